"""Hostile-input cases of the data: list.txt lines and files, images only a loader worker reads, .pts and
annotation files, and prepare.py's sources."""

from fbnet_pfld import prepare
from tools.hostile_fixtures import (
    PTS_OK,
    annotation,
    corrupt_image,
    dataset_with,
    fresh,
    list_lines,
    prep,
    pts_faces,
    pts_folder,
    pts_text,
    same_points,
    search,
    swap,
    write_text,
)

CASES = {
    # list.txt
    "list missing": (lambda c: search(c, fresh(c, "nolist")), "list.txt"),
    "list binary": (lambda c: search(c, dataset_with(c, "binary", raw=b"\xff\xfe\x00\x81" * 40)), "list.txt"),
    "list too few tokens": (lambda c: search(c, dataset_with(c, "few", "imgs/a.png 0.1 0.2")), "list.txt:1"),
    "list odd coordinates": (lambda c: search(c, dataset_with(c, "odd", c["line"] + " 0.5")), "list.txt:1"),
    "list word for number": (lambda c: search(c, dataset_with(c, "word", swap(c["line"], 5, "abc"))), "list.txt:1"),
    "list NaN coordinate": (lambda c: search(c, dataset_with(c, "nan", swap(c["line"], 3, "nan"))), "list.txt:1"),
    "list inf angle": (lambda c: search(c, dataset_with(c, "inf", swap(c["line"], -1, "inf"))), "list.txt:1"),
    "list pixel coordinates": (lambda c: search(c, dataset_with(c, "px", swap(c["line"], 1, "56.0"))), "list.txt:1"),
    "list negative coordinates": (lambda c: search(c, dataset_with(c, "neg", swap(c["line"], 2, "-3"))),
                                  "list.txt:1"),
    "list huge angle": (lambda c: search(c, dataset_with(c, "angle", swap(c["line"], -2, "1e30"))), "list.txt:1"),
    "list path leaves root": (lambda c: search(c, dataset_with(c, "escape", swap(c["line"], 0, "../../x.png"))),
                              "list.txt:1"),
    "list absolute path": (lambda c: search(c, dataset_with(c, "abs", swap(c["line"], 0, "/etc/passwd"))),
                           "list.txt:1"),
    "list path with space": (lambda c: search(c, dataset_with(c, "space", "imgs/my " + c["line"])), "list.txt:1"),
    "list missing image": (lambda c: search(c, dataset_with(c, "noimg", swap(c["line"], 0, "imgs/none.png"))),
                           "list.txt:1"),
    "list empty": (lambda c: search(c, dataset_with(c, "empty", "")), "list.txt"),
    "list other point count": (lambda c: search(c, dataset_with(c, "count", " ".join(
        c["line"].split()[:1] + c["line"].split()[5:]))), "list.txt:1"),
    "list test split differs": (lambda c: search(c, dataset_with(c, "testcount", " ".join(
        c["line"].split()[:1] + c["line"].split()[5:]), test=True)), "list.txt:1"),
    "list --num_points mismatch": (lambda c: search(c, None, None, "--num_points", "98"), "list.txt:1"),
    "list short first line blamed on it": (lambda c: search(c, list_lines(c, "short1", [" ".join(
        c["line"].split()[:1] + c["line"].split()[3:]), c["line"], c["line"]])), "list.txt:1"),
    "list all points at one place": (lambda c: search(c, dataset_with(c, "onept", " ".join(
        [c["line"].split()[0]] + ["0.5"] * 136 + c["line"].split()[-3:]))), "list.txt:1"),
    "list eye corners coincide": (lambda c: search(c, dataset_with(c, "eyes", same_points(c["line"], 36, 45))),
                                  "list.txt:1"),
    "list test points at one place": (lambda c: search(c, dataset_with(c, "onept2", " ".join(
        [c["line"].split()[0]] + ["0.5"] * 136 + c["line"].split()[-3:]), test=True)), "list.txt:1"),
    "list UTF-16": (lambda c: search(c, dataset_with(c, "utf16", raw=c["line"].encode("utf-16"))), "list.txt"),
    "list only blank lines": (lambda c: search(c, dataset_with(c, "blank", raw=b"\n  \n\t\n")), "list.txt"),
    "list test split empty": (lambda c: search(c, dataset_with(c, "testempty", "", test=True)), "list.txt"),
    # list.txt images that only a loader worker reads
    "image corrupt (worker)": (lambda c: corrupt_image(c, b"not an image"), "list.txt:1"),
    "image not square (worker)": (lambda c: corrupt_image(c, None), "list.txt:1"),
    # .pts and annotation files (prepare.py)
    "pts count mismatch": (lambda c: prep(pts_folder(c, "ptscount", PTS_OK.replace("n_points: 3", "n_points: 4"))),
                           "face.pts"),
    "pts bad n_points": (lambda c: prep(pts_folder(c, "ptsn", PTS_OK.replace("n_points: 3", "n_points: x"))),
                         "face.pts:2"),
    "pts bad point": (lambda c: prep(pts_folder(c, "ptsxy", PTS_OK.replace("3 4", "3 four"))), "face.pts:5"),
    "pts NaN": (lambda c: prep(pts_folder(c, "ptsnan", PTS_OK.replace("3 4", "nan 4"))), "face.pts:5"),
    "pts binary": (lambda c: prep(pts_folder(c, "ptsbin", b"\xff\xfe\x81" * 30)), "face.pts"),
    "pts no image": (lambda c: prep(pts_folder(c, "ptsnoimg", PTS_OK, image=False)), "face.pts"),
    "pts none in folder": (lambda c: prep(fresh(c, "ptsnone")), "ptsnone"),
    "jd106 token count": (lambda c: annotation(c, "jd", "jd106", "a.jpg 1 2 3\n"), "annotations.txt:1"),
    "jd106 word": (lambda c: annotation(c, "jdword", "jd106", "a.jpg " + " ".join(["x"] * 216) + "\n"),
                   "annotations.txt:1"),
    "wflw token count": (lambda c: annotation(c, "wflw", "wflw", "1 2 3 a.jpg\n"), "annotations.txt:1"),
    "wflw NaN": (lambda c: annotation(c, "wflwnan", "wflw", " ".join(["nan"] * 206) + " a.jpg\n"),
                 "annotations.txt:1"),
    # prepare
    "prepare mixed point counts": (lambda c: prep(pts_faces(c, "mixed", {
        "a": pts_text([(1, 2), (30, 4), (5, 40)]), "b": pts_text([(1, 2), (30, 4)])})), "b has 2"),
    "prepare every image unreadable": (lambda c: prep(pts_faces(c, "unread", {"a": PTS_OK}, b"not a jpeg")),
                                       "unread"),
    "prepare points at one place": (lambda c: prep(pts_faces(c, "samept", {"a": pts_text([(9, 9)] * 3)})),
                                    "samept"),
    "prepare copies negative": (lambda c: prep(pts_faces(c, "copies", {"a": PTS_OK}), "--copies", "-1"),
                                "--copies"),
    "prepare train and test point counts differ": (lambda c: prep(
        pts_faces(c, "k3", {"a": pts_text([(1, 2), (30, 4), (5, 40)])}), "--test",
        str(pts_faces(c, "k2", {"b": pts_text([(1, 2), (30, 40)])}))), "--test"),
    "prepare csv malformed": (lambda c: (prepare.main, ["--source", "csv", "--train", str(write_text(
        fresh(c, "csv1") / "k.csv", ",0,1\nx.jpg,1,2,3\n")), "--out", str(fresh(c, "csv1") / "o")]), "k.csv:2"),
    "prepare csv word": (lambda c: (prepare.main, ["--source", "csv", "--train", str(write_text(
        fresh(c, "csv2") / "k.csv", ",0,1\nx.jpg,1,abc\n")), "--out", str(fresh(c, "csv2") / "o")]), "k.csv:2"),
}
