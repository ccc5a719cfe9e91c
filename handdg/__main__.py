from handdg.cli import main

main()
