import numpy as np
import pytest

from vliqa.core import PRESETS, Acquisition, CTImage, Window, apply_window, display_to_hu, get_window, resolve_window
from vliqa.errors import InvalidImageError, UnknownNameError


def test_presets_match_the_radiology_conventions():
    assert (PRESETS["ldctiqac"].level, PRESETS["ldctiqac"].width) == (40, 350)
    assert (PRESETS["lung"].level, PRESETS["lung"].width) == (-600, 1500)
    assert (PRESETS["brain"].level, PRESETS["brain"].width) == (40, 80)


def test_window_maps_low_high_to_0_1_and_clips():
    w = get_window("abdomen")
    out = apply_window(np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0]), w)
    assert np.allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_display_to_hu_inverts_the_window_inside_it():
    w = get_window("liver")
    hu = np.linspace(w.low_hu, w.high_hu, 11)
    assert np.allclose(display_to_hu(apply_window(hu, w), w), hu, atol=1e-3)


def test_level_width_pair_and_string():
    assert get_window("40,400") == Window(40, 400)
    assert get_window((50.0, 350.0)).width == 350


def test_unknown_window_names_presets():
    with pytest.raises(UnknownNameError, match="abdomen"):
        get_window("sinus")


def test_bad_width_is_refused():
    with pytest.raises(InvalidImageError):
        Window(40, 0)


def test_dicom_window_from_tags_and_fallback():
    img = CTImage(np.zeros((32, 32)), acquisition=Acquisition(window_center=35, window_width=100))
    assert resolve_window(img, "dicom") == Window(35, 100, "dicom")
    assert resolve_window(CTImage(np.zeros((32, 32))), "dicom").name == "ldctiqac"


def test_negative_level_on_the_command_line():
    assert get_window("-600,1500") == Window(-600, 1500)
