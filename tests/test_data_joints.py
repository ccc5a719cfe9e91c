import numpy as np

from handdg.data import joints


def test_rhd_to_fh_reverses_each_finger_block():
    # RHD: 1 thumb tip .. 4 thumb MCP; 12 middle MCP; 17 pinky tip. Checked by hand against
    # hand3d's description: handdg 1 = thumb root, 4 = thumb tip.
    rhd = np.arange(21)[:, None] * np.ones((1, 3))
    fh = joints.rhd_to_fh(rhd)[:, 0]
    assert fh[0] == 0
    assert list(fh[1:5]) == [4, 3, 2, 1]
    assert list(fh[9:13]) == [12, 11, 10, 9]
    assert list(fh[17:21]) == [20, 19, 18, 17]


def test_stb_to_fh_swaps_finger_order_and_is_its_own_inverse():
    stb = np.arange(21)[:, None] * np.ones((1, 2))
    fh = joints.stb_to_fh(stb)[:, 0]
    assert list(fh[1:5]) == [17, 18, 19, 20]  # thumb comes last in STB
    assert list(fh[5:9]) == [13, 14, 15, 16]
    assert list(fh[9:13]) == [9, 10, 11, 12]
    assert list(fh[17:21]) == [1, 2, 3, 4]  # pinky comes first in STB
    assert list(joints.STB_TO_FH[joints.STB_TO_FH]) == list(range(21))
    assert list(joints.FH_TO_RHD[joints.RHD_TO_FH]) == list(range(21))


def test_names_and_parents():
    assert joints.NAMES[0] == "root" and joints.NAMES[4] == "thumb_tip"
    assert joints.NAMES[9] == "middle_mcp" and joints.NAMES[20] == "pinky_tip"
    assert joints.PARENTS[1] == joints.PARENTS[5] == joints.PARENTS[17] == 0
    assert joints.PARENTS[10] == 9 and joints.PARENTS[20] == 19
    assert len(joints.BONES) == 20
    assert joints.finger_chains()[2] == [0, 9, 10, 11, 12]


def test_palm_wrist_round_trip():
    xyz = np.zeros((21, 3))
    xyz[0] = [10.0, 20.0, 30.0]  # palm
    xyz[13] = [14.0, 10.0, 30.0]  # ring MCP
    wrist = joints.palm_to_wrist(xyz)
    np.testing.assert_allclose(wrist[0], [6.0, 30.0, 30.0])  # 13 + 2 (palm - 13)
    np.testing.assert_allclose(joints.wrist_to_palm(wrist), xyz)
    assert xyz[0, 0] == 10.0  # input untouched
