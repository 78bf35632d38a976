"""An output that cannot fit in memory is refused before any work, in one line (issue 27, item 1)."""
from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from rlfn.errors import ImageError
from rlfn.inference.resize import check_output_fits, output_bytes


def test_output_bytes_counts_the_result_and_the_resized_copy():
    assert output_bytes((64, 48), 4, (256, 192), 3, 1) == 256 * 192 * 3
    assert output_bytes((64, 48), 4, (65535, 49151), 3, 1) == 256 * 192 * 3 + 65535 * 49151 * 3
    # 16-bit: the copy plus 32-bit float planes while resizing
    assert output_bytes((10, 10), 2, (40, 40), 1, 2) == 20 * 20 * 2 + 40 * 40 * 2 + 40 * 40 * 8


def test_refused_in_one_line_naming_size_and_limit():
    with pytest.raises(ImageError) as e:
        check_output_fits((64, 48), 4, (65535, 49151), 3, 1, available=2**30)
    msg = str(e.value)
    assert "\n" not in msg and "65535×49151" in msg and "1.0 GiB" in msg and "--width" in msg
    check_output_fits((64, 48), 4, (256, 192), 3, 1, available=2**30)  # fits: nothing raised


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux's")
def test_cli_refuses_a_huge_width_under_a_memory_limit(tmp_path):
    """`rlfn upscale small.png --width 65535` under a 6 GiB address-space limit: one line, exit 1, no file, in
    seconds (it used to grow until the OOM killer ended it)."""
    src = tmp_path / "small.png"
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(src)
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
        from rlfn.cli.main import main
        sys.exit(main(["upscale", {str(src)!r}, "-o", {str(tmp_path / "out")!r}, "-m", "rlfn_s", "-s", "4",
                       "--width", "65535"]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "65535×49151" in errors[0] and "GiB" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
