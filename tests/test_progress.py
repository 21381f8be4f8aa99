from sensitive_hue import progress


def test_bars_are_off_unless_the_caller_turns_them_on():
    assert not progress.enabled()
    assert progress.bar(range(5)).disable
    with progress.shown(True):
        assert progress.enabled()
        with progress.shown(False):
            assert progress.bar(range(5)).disable
        assert progress.enabled()
    assert not progress.enabled()


def test_short_work_draws_no_bar_even_when_on(monkeypatch):
    drawn = {}

    def fake_tqdm(iterable=None, disable=None, **kwargs):
        drawn[kwargs.get("desc")] = disable
        return iterable

    monkeypatch.setattr(progress, "tqdm", fake_tqdm)
    with progress.shown(True):
        progress.bar(range(3), min_steps=10, desc="short")
        progress.bar(range(30), min_steps=10, desc="long")
        progress.bar(total=5, min_steps=10, desc="short total")
    assert drawn == {"short": True, "long": None, "short total": True}  # None: tqdm draws only on a terminal
