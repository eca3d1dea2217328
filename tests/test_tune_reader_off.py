"""The readers' harness (evals/tune_reader.py) runs its extracting variants with the decision off."""

from __future__ import annotations

from evals.tune_reader import SETS, ReplayRetriever, _pipeline
from tests.fakes import scripted


def test_a_checked_variant_records_the_check_but_its_policy_off_run_never_withholds_for_it() -> None:
    pipeline = _pipeline("checked-4", SETS[0], ReplayRetriever({}), scripted("x"), None)
    assert pipeline.settings.reader_check and pipeline.policy.min_supported == 0.0
    assert pipeline.policy.max_not_found == 1.0
    plain = _pipeline("whole-4", SETS[0], ReplayRetriever({}), scripted("x"), None)
    assert not plain.settings.reader_check
