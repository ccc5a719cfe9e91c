"""`handdg reproduce`: the paper's Tables 3–6 as a plan of training runs (variant × seed), run
here one after another or by any launcher one run per job, then collected into tables with
mean ± std over seeds and paired differences against the baseline.

plan (which runs, their configs, input checks) -> state (what each run dir holds) ->
execute (train/resume + evals under a lock) -> summary (tables).
"""
