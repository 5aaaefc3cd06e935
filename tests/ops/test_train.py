from pathlib import Path

from ops.train import TRAINING_INPUTS, fingerprint


def _tree(root: Path) -> None:
    (root / "bot" / "data" / "nlu").mkdir(parents=True)
    (root / "config.yml").write_text("language: zh\n")
    (root / "domain.yml").write_text("intents: [greet]\n")
    (root / "bot" / "data" / "nlu" / "basics.yml").write_text("nlu: []\n")


def test_fingerprint_is_stable_and_tracks_every_input(tmp_path: Path) -> None:
    _tree(tmp_path)
    first = fingerprint(tmp_path, TRAINING_INPUTS)
    assert fingerprint(tmp_path, TRAINING_INPUTS) == first

    (tmp_path / "bot" / "data" / "nlu" / "basics.yml").write_text("nlu: [x]\n")
    changed = fingerprint(tmp_path, TRAINING_INPUTS)
    assert changed != first

    # a new file (e.g. a lexicon) changes it too, as does a rename
    (tmp_path / "knowledge" / "lexicon" / "jieba").mkdir(parents=True)
    (tmp_path / "knowledge" / "lexicon" / "jieba" / "a.txt").write_text("公积金 10 n\n")
    with_lexicon = fingerprint(tmp_path, TRAINING_INPUTS)
    assert with_lexicon != changed
    (tmp_path / "knowledge" / "lexicon" / "jieba" / "a.txt").rename(
        tmp_path / "knowledge" / "lexicon" / "jieba" / "b.txt"
    )
    assert fingerprint(tmp_path, TRAINING_INPUTS) != with_lexicon
