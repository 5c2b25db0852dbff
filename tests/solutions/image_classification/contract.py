"""image-classification's fixtures for the contract test (tests/solutions/test_contract.py)."""

from pathlib import Path

from tests.conftest import write_digit_pngs


def case(tmp_path: Path) -> dict:
    write_digit_pngs(tmp_path / "digits", per_class=3, classes=2)
    return {"options": dict(dataset="digits", epochs=1, image_size=16, width=8, batch_size=64, seed=0),
            "inputs": [str(tmp_path / "digits" / "digit_0" / "0.png"), str(tmp_path / "digits" / "digit_1" / "0.png")],
            "predict": {"top_k": 2}}
