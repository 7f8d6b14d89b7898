"""The pacs benchmark runs against real Orthancs and every instance comes back (timings not asserted)."""

from ultrasound_reader.dicom.pacs import bench


def test_bench_quick():
    r = bench.run(quick=True)
    assert r["files"] == 3 and r["baseline_local_copy_open_s"] > 0
    for label in ("c-get", "c-move", "dicomweb"):
        assert r[f"{label}_identical"] == "3/3"
        assert r[f"{label}_bytes_received"] >= r["bytes"] - 64
        assert r[f"{label}_total_s"] > 0
