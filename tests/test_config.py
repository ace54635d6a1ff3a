"""Science and site configs: strict validation, one line per error class, overrides, paper numbers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from xraymass.config import load_config, science_schema
from xraymass.errors import ConfigError

from conftest import REPO

PAPER = REPO / "pipeline" / "paper.yaml"
DEMO = REPO / "pipeline" / "demo.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("trian:\n  max_epochs: 3\n", r"unknown section 'trian'; allowed: .*train"),
        ("train:\n  max_epoch: 3\n", r"unknown key 'train.max_epoch'; allowed: .*max_epochs"),
        ("train:\n  max_epochs: many\n", r"'train.max_epochs' = 'many' is not allowed; expected an integer"),
        ("train:\n  max_epochs: 2.5\n", r"'train.max_epochs' = 2.5 is not allowed; expected an integer"),
        ("train:\n  max_epochs: 0\n", r"'train.max_epochs' = 0 is not allowed; expected an integer in \[1, 100000\]"),
        ("train:\n  learning_rate: .nan\n", r"'train.learning_rate' = nan is not allowed"),
        ("model:\n  padding: full\n", r"'model.padding' = 'full' is not allowed; expected one of 'same', 'valid'"),
        ("model:\n  filters: [16, 32]\n", r"'model.filters' = \[16, 32\] is not allowed; expected a list of 3 integers"),
        ("halos:\n  log_m500c_min: 20\n", r"'halos.log_m500c_min' = 20 is not allowed; expected a number in \[10.0, 16.5\]"),
        ("train: [1, 2]\n", r"section 'train' must be a mapping"),
        ("- a\n- b\n", r"the top level must be a mapping"),
        ("train:\n  max_epochs: [\n", r"not valid YAML"),
        ("tng:\n  base_path: ${XRAYMASS_TEST_UNSET_VAR}/output\n", r"'tng.base_path' uses \$\{XRAYMASS_TEST_UNSET_VAR\}, which is not set"),
    ],
)
def test_each_error_class_is_one_line_naming_file_and_key(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("XRAYMASS_TEST_UNSET_VAR", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(f"{path}:")
    assert re.search(message, line), line
    assert err.value.exit_status == 2


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_fill_missing_keys_and_ints_become_floats(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  learning_rate: 1\n"))
    assert cfg.train["learning_rate"] == 1.0 and isinstance(cfg.train["learning_rate"], float)
    assert cfg.train["max_epochs"] == science_schema()["train"]["max_epochs"].default
    assert set(cfg.sections()) == set(science_schema())


def test_dotted_overrides(tmp_path):
    cfg = load_config(DEMO, ["train.max_epochs=20", "model.filters=[8, 8, 8]", "run.name=x"])
    assert cfg.train["max_epochs"] == 20
    assert cfg.model["filters"] == [8, 8, 8]
    assert cfg.run_dir == Path("runs/x")
    with pytest.raises(ConfigError, match=r"--set 'train.max_epochs': expected SECTION.KEY=VALUE"):
        load_config(DEMO, ["train.max_epochs"])
    with pytest.raises(ConfigError, match=r"unknown key 'train.epochs'"):
        load_config(DEMO, ["train.epochs=3"])
    with pytest.raises(ConfigError, match=r"'train.max_epochs' = -1 is not allowed"):
        load_config(DEMO, ["train.max_epochs=-1"])


def test_env_vars_expand_at_load_time(monkeypatch):
    monkeypatch.setenv("TNG300_DIR", "/data/TNG300-1")
    cfg = load_config(PAPER)
    assert cfg.tng["base_path"] == "/data/TNG300-1/output"


def test_config_sections_are_copies():
    cfg = load_config(DEMO)
    cfg.train["max_epochs"] = -5
    assert cfg.train["max_epochs"] != -5


def test_paper_yaml_holds_every_number_of_the_spec(monkeypatch):
    monkeypatch.setenv("TNG300_DIR", "/data")
    cfg = load_config(PAPER)
    assert (cfg.halos["log_m500c_min"], cfg.halos["log_m500c_max"]) == (13.57, 15.06)
    assert cfg.halos["source"] == "tng" and cfg.halos["redshift"] == 0.0 and cfg.tng["snapshot"] == 99
    assert cfg.cosmology["name"] == "planck15"
    m = cfg.mocks
    assert (m["redshift"], m["exposure_ks"], m["nh_1e22"], m["kt_min_kev"]) == (0.05, 100.0, 0.04, 0.1)
    assert m["exclude_star_forming"] and m["projections"] == ["x", "y", "z"]
    assert (m["fov_arcmin"], m["pixel_arcsec"], m["psf_fwhm_arcsec"], m["response_cycle"]) == (20.0, 0.5, 0.5, 19)
    assert m["particle_background"] and m["foreground"]
    assert cfg.physics["data"] == "real"
    s = cfg.stamps
    assert (s["emin_kev"], s["emax_kev"], s["npix"], s["fov_arcmin"], s["n_folds"]) == (0.5, 7.0, 128, 20.0, 10)
    assert cfg.model["filters"] == [16, 32, 64] and cfg.model["kernel_size"] == 3 and cfg.model["pool_size"] == 2
    assert cfg.model["dense"] == [200, 100, 20] and cfg.model["dropout"] == 0.1
    t = cfg.train
    assert (t["learning_rate"], t["max_epochs"]) == (5e-4, 400)
    assert (t["max_abs_delta"], t["max_abs_median"], t["min_slope"]) == (0.3, 0.02, 0.9)
    assert cfg.evaluate["mass_subset"] == [14.0, 14.5]
    b = cfg.baseline
    assert (b["r_inner_r500c"], b["r_outer_r500c"]) == (0.15, 1.0) and {0.03, 0.05} <= set(b["r500c_errors"])
    assert cfg.interpret["iterations"] == 2


def _leaf_lines(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the YAML line that sets it (top-level sections, one level of keys)."""
    lines, section = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Za-z_]\w*:", line):
            section = line.split(":", 1)[0]
        elif section and re.match(r"^  [A-Za-z_][\w-]*:", line):
            lines[(section, line.split(":", 1)[0].strip())] = line
    return lines


def test_demo_comments_every_number_it_changes(monkeypatch):
    monkeypatch.setenv("TNG300_DIR", "/data")
    paper, demo = load_config(PAPER).to_dict(), load_config(DEMO).to_dict()
    lines = _leaf_lines(DEMO.read_text())
    # run names differ by design; the demo never reads TNG, so its paths stay at the defaults
    changed = [(s, k) for s in demo for k in demo[s] if demo[s][k] != paper[s][k] and s not in ("run", "tng")]
    assert changed, "demo.yaml is expected to shrink some numbers"
    for section, key in changed:
        line = lines.get((section, key))
        assert line is not None, f"demo.yaml changes {section}.{key} implicitly (set it with a comment)"
        assert "#" in line, f"demo.yaml: {section}.{key} differs from paper.yaml without a comment"


def test_science_yaml_is_the_demo_at_the_papers_size():
    """pipeline/science.yaml (`make science`) repeats demo.yaml but for the keys it states: no drift."""
    demo = load_config(DEMO).to_dict()
    science = load_config(REPO / "pipeline" / "science.yaml").to_dict()
    differ = {(s, k) for s in demo for k in demo[s] if demo[s][k] != science[s][k]}
    assert differ == {("run", "name"), ("synthetic", "n_halos"), ("train", "max_epochs")}
    assert science["synthetic"]["n_halos"] == 329


def test_site_configs_validate():
    for site_yaml in sorted((REPO / "site_configs").glob("*/site.yaml")):
        raw = yaml.safe_load(site_yaml.read_text())
        if "${" in site_yaml.read_text():
            continue  # sites with account placeholders are checked in the site tests
        load_config(site_yaml, kind="site")
        assert raw["site"]["name"] == site_yaml.parent.name


@pytest.mark.parametrize("text, message", [
    ("train:\n  max_epochs: 3\ntrain:\n  max_epochs: 4\n", r"line 3 not valid YAML \(key 'train' appears twice \(first on line 1\)"),
    ("train:\n  max_epochs: 3\n  max_epochs: 4\n", r"key 'max_epochs' appears twice"),
    ("mocks:\n  projections: []\n", r"'mocks.projections' = \[\] is not allowed; expected a non-empty list of x, y, z"),
    ("mocks:\n  projections: [x, q]\n", r"'mocks.projections' = \['x', 'q'\]"),
    ("mocks:\n  emin_kev: 5.0\n  emax_kev: 5.0\n", r"'mocks.emin_kev' = 5.0 must be below 'mocks.emax_kev' = 5.0"),
    ("stamps:\n  npix: 8\nmodel:\n  padding: valid\n", r"'stamps.npix' = 8 is too small for the network"),
    ("baseline:\n  bkg_r500c: [2.5, 1.5]\n", r"'baseline.bkg_r500c' = \[2.5, 1.5\]: the first value must be below"),
])
def test_duplicate_keys_and_cross_key_rules(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:") and "\n" not in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)


def test_a_config_that_is_not_utf8_text(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(b"run:\n  name: \xff\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: not a text file in UTF-8 \(byte 13\)"):
        load_config(path)


def test_the_network_fits_every_stamp_size_the_paper_and_demo_use():
    from xraymass.train.config_schema import feature_map_side

    assert feature_map_side(128, 3, 3, 2, "same") == 16
    assert feature_map_side(16, 3, 3, 2, "valid") == 0
    assert feature_map_side(8, 3, 3, 2, "same") == 1
