import pytest


@pytest.fixture(autouse=True)
def _isolated_media(media_dir):
    """Every cases test writes files into its own empty folder."""
    return media_dir
