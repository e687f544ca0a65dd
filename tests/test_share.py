import pytest

from harness.errors import ConfigurationError
from harness.share import Share


def test_the_shares_of_a_scenario_hold_every_client_once() -> None:
    shares = [Share(index, 3) for index in range(3)]
    held = sorted(client for share in shares for client in share.indices(10))
    assert held == list(range(10))
    assert [client for client in range(10) if Share(1, 3).holds(client)] == list(Share(1, 3).indices(10))


def test_the_whole_share_holds_every_client() -> None:
    assert Share().whole
    assert list(Share().indices(4)) == [0, 1, 2, 3]
    assert not Share(0, 2).whole


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1/0", "a/b", "1", "1/2/3", ""])
def test_a_share_that_is_not_I_of_N_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigurationError, match="a share is I/N"):
        Share.parse(text)


def test_a_share_reads_back_as_written() -> None:
    assert Share.parse(" 1/4 ") == Share(1, 4)
    assert str(Share(1, 4)) == "1/4"


@pytest.mark.parametrize("runner", [Share(), Share(1, 3)])
def test_the_parts_of_a_share_hold_each_of_its_clients_once(runner: Share) -> None:
    parts = [runner.split(part, 2) for part in range(2)]
    held = sorted(client for part in parts for client in part.indices(20))
    assert held == list(runner.indices(20))
    assert list(parts[1].indices(20)) == list(runner.indices(20))[1::2]


def test_a_part_that_is_not_one_of_the_parts_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="a share is I/N"):
        Share(0, 2).split(2, 2)
