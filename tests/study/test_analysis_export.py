"""Exports and analysis of a study read through the real service, checked by independent computation.

There is no R MRMC package in Debian (no r-cran-mrmcaov / iMRMC) and no CRAN here, so
the MRMC numbers are checked as the stats tests do: by identities with computations
built directly from DeLong placements, and by a round trip through the MRMCaov-layout
export.
"""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ultrasound_reader.cli import main
from ultrasound_reader.stats.delong import delong_auc, placements
from ultrasound_reader.stats.mrmc import or_mrmc_frame
from ultrasound_reader.stats.roc import roc_auc
from ultrasound_reader.study.analysis import analyze, concern_dice, concern_grade
from ultrasound_reader.study.export import export
from ultrasound_reader.study.service import AnswerInput, add_reader, answer, reveal


@pytest.fixture
def read_study(soft_db):
    """Two readers (3 and 30 years) read every case pre -> reveal -> post; answers recorded here too."""
    con = sqlite3.connect(soft_db)
    rng = np.random.default_rng(4)
    truth_by_pk = dict(con.execute("SELECT case_pk, malignant FROM truth").fetchall())
    ai_by_pk = dict(con.execute("SELECT id, ai_score FROM study_case").fetchall())
    bbox_by_pk = dict(con.execute("SELECT id, cam_bbox FROM study_case").fetchall())
    recorded = []
    for code, years, noise in (("R1", 3, 1.5), ("R2", 30, 0.6)):
        add_reader(soft_db, code, years)
        rid = con.execute(f"SELECT id FROM reader WHERE code='{code}'").fetchone()[0]
        order = [pk for (pk,) in con.execute(f"SELECT case_pk FROM reader_case WHERE reader_id={rid} ORDER BY position")]
        for pos, pk in enumerate(order, start=1):
            t = truth_by_pk[pk]
            pre = int(np.clip(50 + (30 if t else -30) + rng.normal(0, 30 * noise), 0, 100))
            post = int(np.clip(0.5 * pre + 50 * ai_by_pk[pk] + rng.normal(0, 5), 0, 100))
            x0, y0, x1, y1 = (float(v) for v in bbox_by_pk[pk].split(","))
            concern = (x0, y0, x1, y1) if pos % 2 else (x0 + 1, y0 + 1, x0 + 2, y0 + 2)
            answer(soft_db, code, pos, AnswerInput("pre", pre >= 50, pre, concern=concern))
            reveal(soft_db, code, pos)
            answer(soft_db, code, pos, AnswerInput("post", post >= 50, post))
            recorded.append({"reader": code, "case_pk": pk, "truth": t, "pre": pre, "post": post, "ai": ai_by_pk[pk]})
    con.close()
    return soft_db, pd.DataFrame(recorded)


def test_exports_have_one_row_per_reader_case_modality(read_study, tmp_path):
    db, rec = read_study
    long = tmp_path / "long.csv"
    assert export(db, "long", long)["rows"] == 2 * 8 * 2
    df = pd.read_csv(long)
    assert set(df["modality"]) == {"unaided", "aided"} and not df.duplicated(["reader", "case_id", "modality"]).any()
    assert sorted(df.loc[df.modality == "unaided", "likelihood"]) == sorted(rec["pre"])
    assert sorted(df.loc[df.modality == "aided", "likelihood"]) == sorted(rec["post"])
    assert not df["reader_simulated"].any()
    im = pd.read_csv(tmp_path / "i.csv") if export(db, "imrmc", tmp_path / "i.csv") else None
    assert list(im.columns) == ["readerID", "caseID", "modalityID", "score"]
    truth_rows = im[im.modalityID == "truth"]
    assert len(truth_rows) == 8 and set(truth_rows.readerID.astype(str)) == {"-1"}
    assert len(im) == 8 + 32
    export(db, "mrmcaov", tmp_path / "m.csv")
    m = pd.read_csv(tmp_path / "m.csv")
    assert list(m.columns) == ["reader", "treatment", "case", "truth", "rating"] and len(m) == 32


def test_analysis_matches_independent_computation(read_study, tmp_path):
    db, rec = read_study
    r = analyze(db)
    for code, g in rec.groupby("reader"):
        e = r["readers"][code]
        t = g["truth"].to_numpy()
        for phase in ("pre", "post"):
            call = (g[phase] >= 50).to_numpy()
            assert e[phase]["accuracy"]["value"] == pytest.approx(np.mean(call == t))
            assert e[phase]["sensitivity"]["value"] == pytest.approx(np.mean(call[t == 1]))
            assert e[phase]["auc"]["auc"] == pytest.approx(roc_auc(t, g[phase].to_numpy()))
        pre_ok, post_ok = (g["pre"] >= 50).to_numpy() == t, (g["post"] >= 50).to_numpy() == t
        assert e["changes"]["wrong_to_right"] == int(np.sum(~pre_ok & post_ok))
        assert e["changes"]["right_to_wrong"] == int(np.sum(pre_ok & ~post_ok))
        b, c = int(np.sum(pre_ok & ~post_ok)), int(np.sum(~pre_ok & post_ok))
        assert e["mcnemar"]["accuracy"]["a_only"] == b and e["mcnemar"]["accuracy"]["b_only"] == c
    pooled = r["readers"]["pooled"]
    assert pooled["pre"]["n"] == 16 and pooled["pre"]["accuracy"]["value"] == pytest.approx(
        np.mean((rec["pre"] >= 50) == rec["truth"]))
    # The model: AUC of the stored scores on the same cases.
    cases = rec.drop_duplicates("case_pk")
    assert r["model"]["auc"]["auc"] == pytest.approx(delong_auc(cases["truth"], cases["ai"]).auc)
    # MRMC: the fixed-reader statistic is the direct contrast test on the DeLong covariance.
    mr = r["mrmc"]
    assert mr["available"] and mr["modalities"] == ["unaided", "aided"] and mr["readers"] == ["R1", "R2"]
    pks = sorted(cases["case_pk"])
    t = np.array([cases.set_index("case_pk").loc[pk, "truth"] for pk in pks])
    x = np.array([[[rec[(rec.reader == rd) & (rec.case_pk == pk)][ph].iloc[0] for pk in pks]
                   for rd in ("R1", "R2")] for ph in ("pre", "post")], float)
    s = placements(t.astype(np.int8), x.reshape(4, -1)).covariance()
    L = np.array([-1, -1, 1, 1]) / 2
    auc = np.array([roc_auc(t, x[i, j]) for i in range(2) for j in range(2)])
    assert mr["difference"] == pytest.approx(L @ auc)
    if mr["components"]["cov2"] >= mr["components"]["cov3"]:
        assert mr["frrc"]["chi2"] == pytest.approx((L @ auc) ** 2 / (L @ s @ L), rel=1e-9)
    # Experience groups vs the model: Mann-Whitney U of per-case correctness, recomputed.
    ai_right = ((cases["ai"] >= r["model"]["bundle_cutoff"]).astype(int) == cases["truth"]).to_numpy(float)
    g1 = rec[rec.reader == "R1"]
    right = ((g1["pre"] >= 50).astype(int) == g1["truth"]).to_numpy(float)
    u = sps.mannwhitneyu(right, ai_right, alternative="two-sided")
    grp = r["experience_groups"]["groups"]["1-5 years"]
    assert grp["readers"] == ["R1"] and grp["accuracy"]["p"] == pytest.approx(u.pvalue)
    assert ">15 years" in r["experience_groups"]["groups"]
    # Area of concern: the odd positions drew exactly the Grad-CAM map's box, the even ones a 1-pixel box.
    table = r["concern"]["per_reader"]
    assert sum(table["R1"].values()) == 8 and table["R1"]["none"] >= 4


def test_mrmcaov_export_round_trip_gives_the_same_mrmc(read_study, tmp_path):
    db, _ = read_study
    export(db, "mrmcaov", tmp_path / "m.csv")
    m = pd.read_csv(tmp_path / "m.csv")
    again = or_mrmc_frame(m, reader="reader", modality="treatment", case="case", truth="truth", score="rating",
                          modality_order=["unaided", "aided"])
    mr = analyze(db)["mrmc"]
    assert np.ravel(again.auc) == pytest.approx(np.ravel(mr["auc"])) and again.frrc["p"] == pytest.approx(mr["frrc"]["p"])
    assert again.rrrc["F"] == pytest.approx(mr["rrrc"]["F"])


def test_analyze_cli_json_plots_and_text(read_study, tmp_path, capsys):
    db, _ = read_study
    assert main(["study", "analyze", "--db", db, "--json", "--plots", str(tmp_path / "plots")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mrmc"]["available"] and len(out["plots"]) == 2
    kept = json.loads((tmp_path / "plots" / "results.json").read_text())
    assert kept["mrmc"]["frrc"]["p"] == pytest.approx(out["mrmc"]["frrc"]["p"])
    assert "MRMC (Obuchowski-Rockette" in (tmp_path / "plots" / "report.txt").read_text()
    from PIL import Image

    for p in out["plots"]:
        im = Image.open(p)
        assert im.size[0] > 400 and np.unique(np.asarray(im.convert("L"))).size > 10  # a drawn figure, not blank
    assert main(["study", "analyze", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "MRMC (Obuchowski-Rockette" in text and "R1 (3 y, 1-5 years)" in text and "SIMULATED" not in text


def test_analyze_and_export_refuse_what_cannot_be_done(soft_db, tmp_path, capsys):
    assert main(["study", "analyze", "--db", soft_db]) == 1
    assert "no answers yet" in capsys.readouterr().err
    assert main(["study", "export", "--db", soft_db, "--format", "sas", "--out", str(tmp_path / "x.csv")]) == 1
    assert "--format" in capsys.readouterr().err
    assert main(["study", "export", "--db", soft_db, "--format", "long", "--out", str(tmp_path / "no" / "x.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err


def _cam(heat: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, (heat * 255).astype(np.uint8))
    return buf.getvalue()


def test_concern_overlap_grades():
    heat = np.zeros((48, 96))
    heat[10:30, 20:60] = 1.0  # hot region: x 20-60, y 10-30 in map pixels
    cam, bbox = _cam(heat), "100,200,292,296"  # the map covers x 100-292, y 200-296: 2 image px per map px
    assert concern_dice("140,220,220,260", bbox, cam) == pytest.approx(1.0)  # the hot region exactly
    assert concern_grade(1.0) == "complete"
    half = concern_dice("140,220,180,260", bbox, cam)  # half of it: Dice 2*0.5/1.5
    assert half == pytest.approx(2 / 3) and concern_grade(half) == "mostly"
    assert concern_grade(concern_dice("140,220,150,230", bbox, cam)) == "partly"
    assert concern_dice("0,0,50,50", bbox, cam) == 0.0 and concern_grade(0.0) == "none"


def test_analyze_refuses_a_plots_path_it_cannot_write(read_study, tmp_path, capsys):
    """--plots naming a file, a folder under a file, or a folder whose files cannot be written:
    exit 1 with one line naming --plots (was exit 2, FileExistsError / NotADirectoryError)."""
    db, _ = read_study
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for bad in (a_file, a_file / "plots"):
        assert main(["study", "analyze", "--db", db, "--plots", str(bad)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--plots" in err[0] and str(bad) in err[0], err
    blocked = tmp_path / "blocked"
    (blocked / "readers_roc.png").mkdir(parents=True)  # the plot's name is taken by a folder
    assert main(["study", "analyze", "--db", db, "--plots", str(blocked)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plots" in err[0] and "readers_roc.png" in err[0], err
