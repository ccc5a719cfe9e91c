"""Writers that put synthetic samples into FreiHAND's, RHD's and STB's real on-disk layouts."""

from handdg.synth.writers.freihand import write_freihand
from handdg.synth.writers.rhd import write_rhd
from handdg.synth.writers.stb import write_stb

WRITERS = {"freihand": write_freihand, "rhd": write_rhd, "stb": write_stb}
