"""The exercise system: single source in solutions/, student copies in exercises/, instant checks."""

from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from mtl_course.grading import NotCorrectYet, check, verdict
from mtl_course.grading.build import MarkerError, build_exercises, hidden_tests, strip_source

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def test_strip_source_replaces_solutions_and_drops_hidden_tests():
    source = "\n".join(["def f(x):", "    ### BEGIN SOLUTION", "    return 2 * x", "    ### END SOLUTION",
                        "check('q', f)", "### BEGIN HIDDEN TESTS", "assert f(1) == 2", "### END HIDDEN TESTS"])
    assert strip_source(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\ncheck('q', f)"
    assert hidden_tests(source) == "assert f(1) == 2"


@pytest.mark.parametrize("source, phrase", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("### END SOLUTION", "without a matching BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS", "inside an open SOLUTION block"),
])
def test_unbalanced_markers_are_errors(source, phrase):
    with pytest.raises(MarkerError, match=phrase):
        strip_source(source)


def test_exercises_are_exactly_what_the_build_writes():
    assert build_exercises(ROOT / "solutions", ROOT / "exercises", check=True) == []


def test_check_detects_edited_missing_and_extra_exercises(tmp_path):
    built = tmp_path / "exercises"
    assert build_exercises(ROOT / "solutions", built) == []
    first, second = sorted(built.glob("*.ipynb"))[:2]
    first.write_text(first.read_text().replace("YOUR CODE HERE", "my answer"))
    second.unlink()
    (built / "99_stray.ipynb").write_text("{}")
    problems = build_exercises(ROOT / "solutions", built, check=True)
    assert any("differs" in p and first.name in p for p in problems)
    assert any("missing" in p and second.name in p for p in problems)
    assert any("99_stray" in p for p in problems)


def test_cli_check_exit_codes(tmp_path):
    from mtl_course.__main__ import main
    assert main(["build-exercises", "--check"]) == 0
    assert main(["build-exercises", "--check", "--exercises", str(tmp_path)]) == 1


def test_hidden_tests_and_answers_never_reach_students():
    for exercise in EXERCISES:
        text = exercise.read_text()
        assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
        assert "raise NotImplementedError()" in text


def test_cells_carry_nbgrader_metadata():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        graded = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
        answers = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert 3 <= len(graded) <= 5 and len(answers) == len(graded)
        for cell in graded:
            assert cell.metadata["nbgrader"]["points"] > 0 and cell.metadata["nbgrader"]["grade_id"]
            assert cell.metadata["mtl_course"]["question"].startswith(notebook.metadata["mtl_course"]["exercise"])


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_untouched_exercises_fail_only_with_not_implemented_and_checks_say_so(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    # top-level answers raise NotImplementedError; every check cell says "not answered yet" and raises NotCorrectYet
    assert {e.ename for e in errors} <= {"NotImplementedError", "NotCorrectYet"}
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            printed = "".join(o.get("text", "") for o in cell.outputs)
            assert "not answered yet" in printed and "✅" not in printed, cell.source
            assert [o.ename for o in cell.outputs if o.output_type == "error"] == ["NotCorrectYet"], cell.source


def test_check_reports_each_state_and_raises_unless_correct(capsys):
    def unfinished(confusion):
        raise NotImplementedError()

    def right(confusion):
        confusion = confusion.double()
        tp = confusion.diag()
        union = confusion.sum(0) + confusion.sum(1) - tp
        return (tp[union > 0] / union[union > 0]).mean().item()

    with pytest.raises(NotCorrectYet, match="01.q1 is not answered yet"):
        check("01.q1", None)
    assert "still None" in capsys.readouterr().out
    with pytest.raises(NotCorrectYet, match="not answered yet"):
        check("01.q1", unfinished)
    assert "NotImplementedError" in capsys.readouterr().out
    with pytest.raises(NotCorrectYet, match="01.q1 is not correct yet"):
        check("01.q1", lambda c: 0.5)
    out = capsys.readouterr().out
    assert "❌" in out and "relative error" in out and "Hint:" in out
    with pytest.raises(AssertionError):                     # what nbgrader and pytest count as a failed test
        check("01.q1", lambda c: c.no_such_thing)
    assert "raised AttributeError" in capsys.readouterr().out
    assert check("01.q1", right) is None and "✅" in capsys.readouterr().out   # nothing echoed under the ✅ line
    assert verdict("01.q1", right)[0] == "correct" and verdict("01.q1", lambda c: 0.5)[0] == "wrong"
    with pytest.raises(ValueError, match="unknown question"):
        check("09.q9", 1)


def test_numeric_checks_use_relative_error():
    value = torch.tensor(0.0).item()
    assert verdict("02.q4", value)[0] == "wrong"


def _common_mistakes():
    import torch as t
    return [
        ("02.q2", _separate_trunks),                                                   # one trunk per task
        ("02.q3", _encoder_only_fraction()),                                           # forgot the decoder
        ("03.q1", lambda losses, s: (t.exp(-s) * losses).sum()),                       # forgot + s
        ("03.q1", lambda losses, s: ((t.exp(-s) * losses + s).sum()).detach()),        # detached
        ("03.q2", lambda last, before, temp: t.softmax(last / before / temp, 0)),      # weights sum to 1
        ("03.q3", lambda losses: 1 / losses),                                          # no geometric mean
        ("03.q4", lambda points: list(range(len(points)))),                            # everything
        ("04.q1", lambda G: G @ G.T),                                                  # not normalised
        ("04.q2", lambda g1, g2: g1 + g2),                                             # never projects
        ("04.q3", lambda g1, g2: (g1 + g2) / 2),                                       # the mean, not the min norm
        ("05.q1", _freeze_all_count_total),                                            # froze the heads too
        ("05.q1", lambda m: sum(p.numel() for p in m.parameters())),                   # counted, froze nothing
        ("05.q2", lambda m, lr: [{"params": list(m.heads.parameters()), "lr": 10 * lr},
                                 {"params": list(m.parameters()), "lr": lr}]),          # heads in two groups
        ("05.q2", lambda m, lr: [{"params": list(m.heads.parameters()), "lr": 10 * lr},
                                 {"params": [p for n, p in m.named_parameters() if not n.startswith("heads.")],
                                  "lr": lr}]),                                          # frozen ones included
        ("05.q3", lambda m, ref, a, b: a / 2 * sum((p - ref[n]).square().sum() for n, p in m.named_parameters()
                                                    if n in ref)),                      # forgot the new weights
        ("05.q3", lambda m, ref, a, b: (a / 2 * sum((p - ref[n]).square().sum() for n, p in m.named_parameters()
                                                     if n in ref and p.requires_grad) + b / 2 * sum(
            p.square().sum() for n, p in m.named_parameters() if n not in ref and p.requires_grad)).detach()),
        ("06.q1", lambda maps, a: [a[i, i] * m for i, m in enumerate(maps)]),            # only its own map
        ("06.q1", lambda maps, a: [sum(a[s, i] * m for s, m in enumerate(maps)) for i in range(len(maps))]),  # a.T
        ("06.q2", lambda p: _boundaries(p, half=1.0)),                                  # forgot the 1/2
        ("06.q2", lambda p: _boundaries(p, sides="one")),                               # one pixel of each pair
        ("06.q2", lambda p: _boundaries(p, reduce="sum")),                              # sum over neighbours
        ("06.q3", lambda e, s, w: w * (t.sigmoid(e) - _boundaries(s)).square().mean()),  # logits as probabilities
        ("06.q3", lambda e, s, w: (t.sigmoid(e) - _boundaries(s.softmax(1))).square().mean()),  # weight forgotten
        ("06.q3", lambda e, s, w: w * (t.sigmoid(e) - _boundaries(s.softmax(1))).square().sum()),  # sum, not mean
        ("06.q3", lambda e, s, w: w * (t.sigmoid(e) - _boundaries(s.softmax(1))).abs().mean()),    # L1, not squared
        ("06.q3", lambda e, s, w: (w * (t.sigmoid(e) - _boundaries(s.softmax(1))).square().mean()).detach()),
        ("06.q3", lambda e, s, w: w * (t.sigmoid(e) - _boundaries(s.softmax(1)).detach()).square().mean()),  # stops
        *[("07.q1", lambda i, sigma, m=m: _heatmap(i, sigma, m))                       # sum of Gaussians; the peak
          for m in ("sum", "unrounded", "background", "swapped", "no two")],           # on the exact centre; ...
        *[("07.q2", lambda s, h, o, th, k, m=m: _group(s, h, o, th, k, m))             # vote = pixel - offset; ...
          for m in ("minus", "no offsets", "row-major", "from 0", "background")],
        *[("07.q3", lambda *maps, m=m: _pq(*maps, mistake=m))                          # IoU >= 0.5; stuff split
          for m in (">=", "all classes", "stuff split", "pooled", "per image")],       # by ids; images pooled...
        *[("08.q1", lambda folder, m=m: _read_case(folder, m))                         # no / 255; one channel;
          for m in ("no /255", "one channel", "float ids", "void kept", "void to 0", "ToTensor mask")],  # ...
        *[("08.q2", lambda root, transforms=None, m=m: _CaseDataset(root, transforms, m))  # unsorted; README;
          for m in ("unsorted", "readme", "plain mask", "separately", "stackable")],       # mask as an image ...
        *[("08.q3", lambda image, semseg, m=m: _pad16(image, semseg, m))               # void as background;
          for m in ("mask 0", "top left", "always 16", "32")],                          # pads the wrong side ...
        *[("09.q1", lambda s, te, form, temp=2.0, m=m: _distill(s, te, form, temp, m))  # no T^2; KL reversed;
          for m in ("no T^2", "reversed", "batchmean", "mean over classes", "detached",  # kl_div's batchmean;
                    "teacher not softened", "cross-entropy", "hard labels", "mse", "l2")],  # ...
        *[("09.q2", lambda w, a, m=m: _prune(w, a, m)) for m in ("int", "signed", "in place", "largest")],
        ("09.q3", lambda model: sum(int((p != 0).sum()) for p in model.parameters())),  # biases, batch norm...
        ("09.q3", lambda model: sum(int((p != 0).sum()) for n, p in model.named_parameters() if "weight" in n)),
        ("09.q3", lambda model: sum(int((c.weight == 0).sum()) for c in model.modules()
                                    if isinstance(c, t.nn.Conv2d))),                    # the zeros
        ("09.q3", lambda model: sum(c.weight.numel() for c in model.modules() if isinstance(c, t.nn.Conv2d))),
    ]


def _read_case(folder, mistake=None):
    """Exercise 08 q1's reader with one plausible mistake."""
    import numpy as np
    import torch
    from PIL import Image
    scan = torch.from_numpy(np.array(Image.open(folder / "image.png"))).float()
    scan = scan if mistake == "no /255" else scan / 255
    label = torch.from_numpy(np.array(Image.open(folder / "label.png"))).long()
    if mistake == "ToTensor mask":
        label = label.float() / 255
    elif mistake == "float ids":
        label = label.float()
    semseg = label if mistake == "void kept" else label.masked_fill(label == 9, 0 if mistake == "void to 0" else 255)
    return {"image": scan[None] if mistake == "one channel" else scan.expand(3, -1, -1), "semseg": semseg}


class _CaseDataset:
    """Exercise 08 q2's dataset with one plausible mistake."""

    def __init__(self, root, transforms=None, mistake=None):
        from pathlib import Path
        entries = [p for p in Path(root).iterdir() if mistake == "readme" or p.is_dir()]
        self.folders = entries if mistake == "unsorted" else sorted(entries)
        self.transforms, self.mistake = transforms, mistake
        self.stackable = transforms is None if mistake != "stackable" else True

    def __len__(self):
        return len(self.folders)

    def __getitem__(self, index):
        import torch
        from torchvision import tv_tensors
        sample = _read_case(self.folders[index])
        if self.transforms is None:
            return sample
        image = tv_tensors.Image(sample["image"])
        if self.mistake == "separately":
            return {"image": self.transforms(image), "semseg": self.transforms(tv_tensors.Mask(sample["semseg"]))}
        mask = sample["semseg"][None].float() if self.mistake == "plain mask" else tv_tensors.Mask(sample["semseg"])
        image, semseg = self.transforms(image, mask)
        semseg = semseg[0].round().long() if self.mistake == "plain mask" else semseg
        return {"image": image.as_subclass(torch.Tensor), "semseg": semseg.as_subclass(torch.Tensor)}


def _pad16(image, semseg, mistake=None):
    """Exercise 08 q3's padding with one plausible mistake."""
    import torch.nn.functional as F
    height, width = semseg.shape
    if mistake == "always 16":
        extra_h, extra_w = 16 - height % 16, 16 - width % 16
    elif mistake == "32":
        extra_h, extra_w = max(32, -(-height // 16) * 16) - height, max(32, -(-width // 16) * 16) - width + 16
    else:
        extra_h, extra_w = -height % 16, -width % 16
    pad = (extra_w, 0, extra_h, 0) if mistake == "top left" else (0, extra_w, 0, extra_h)
    return F.pad(image, pad, value=0.0), F.pad(semseg, pad, value=0 if mistake == "mask 0" else 255)


def _distill(student, teacher, form, temperature=2.0, mistake=None):
    """Exercise 09 q1's distillation loss with one plausible mistake."""
    import torch.nn.functional as F
    teacher, t = teacher.detach(), temperature
    if form == "softmax":
        log_p = F.log_softmax(teacher / (1 if mistake == "teacher not softened" else t), 1)
        log_q = F.log_softmax(student / t, 1)
        if mistake == "reversed":
            log_p, log_q = log_q, log_p
        if mistake == "batchmean":
            return t * t * F.kl_div(log_q, log_p.exp(), reduction="batchmean")
        per_class = -log_p.exp() * log_q if mistake == "cross-entropy" else log_p.exp() * (log_p - log_q)
        kl = per_class.mean() if mistake == "mean over classes" else per_class.sum(1).mean()
        loss = kl if mistake == "no T^2" else t * t * kl
        return loss.detach() if mistake == "detached" else loss
    if form == "sigmoid":
        if mistake == "hard labels":
            return F.binary_cross_entropy_with_logits(student, (teacher > 0).float())
        if mistake == "mse":
            return (student.sigmoid() - teacher.sigmoid()).square().mean()
        return F.binary_cross_entropy_with_logits(student, teacher.sigmoid())
    return (student - teacher).square().mean() if mistake == "l2" else (student - teacher).abs().mean()


def _prune(weight, amount, mistake=None):
    """Exercise 09 q2's magnitude pruning with one plausible mistake."""
    k = int(amount * weight.numel()) if mistake == "int" else round(amount * weight.numel())
    key = weight.flatten() if mistake == "signed" else weight.abs().flatten()
    pruned = weight if mistake == "in place" else weight.clone()
    if k:
        pruned.view(-1)[key.argsort(descending=mistake == "largest")[:k]] = 0
    return pruned


def _heatmap(instance, sigma=1.5, mistake=None):
    """Exercise 07 q1's centre heatmap with one plausible mistake."""
    import torch
    batch, height, width = instance.shape
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                   torch.arange(width, dtype=torch.float64), indexing="ij")
    heatmap = torch.zeros(batch, 1, height, width, dtype=torch.float64)
    for b in range(batch):
        for k in instance[b].unique().tolist():
            if k == 0 and mistake != "background":
                continue
            inside = instance[b] == k
            cy, cx = rows[inside].mean(), columns[inside].mean()
            py, px = (cy, cx) if mistake == "unrounded" else (torch.floor(cy + 0.5), torch.floor(cx + 0.5))
            if mistake == "swapped":
                py, px = px, py
            two = 1 if mistake == "no two" else 2
            blob = torch.exp(-((rows - py) ** 2 + (columns - px) ** 2) / (two * sigma ** 2))
            heatmap[b, 0] = heatmap[b, 0] + blob if mistake == "sum" else torch.maximum(heatmap[b, 0], blob)
    return heatmap.float()


def _group(semseg, heatmap, offsets, threshold=0.1, kernel=3, mistake=None):
    """Exercise 07 q2's grouping with one plausible mistake."""
    import torch
    import torch.nn.functional as F
    height, width = semseg.shape
    pooled = F.max_pool2d(heatmap[None, None], kernel_size=kernel, stride=1, padding=kernel // 2)[0, 0]
    is_peak = (heatmap == pooled) & (heatmap > threshold)
    centres = is_peak.nonzero()
    if mistake != "row-major":
        centres = centres[heatmap[is_peak].argsort(descending=True, stable=True)]
    rows, columns = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    sign = {"minus": -1, "no offsets": 0}.get(mistake, 1)
    votes = torch.stack([rows, columns]).float() + sign * offsets
    distance = (votes.flatten(1).T[:, None, :] - centres.float()[None]).norm(dim=2)
    nearest = distance.argmin(dim=1).view(height, width) + (0 if mistake == "from 0" else 1)
    return nearest if mistake == "background" else torch.where(semseg > 0, nearest, 0)


def _pq(pred_semseg, pred_instance, true_semseg, true_instance, num_classes, mistake=None):
    """Exercise 07 q3's panoptic quality with one plausible mistake."""
    if mistake == "per image":
        return sum(_pq(*(m[b:b + 1] for m in (pred_semseg, pred_instance, true_semseg, true_instance)),
                       num_classes) for b in range(len(true_semseg))) / len(true_semseg)
    if mistake == "pooled":
        pred_semseg, pred_instance, true_semseg, true_instance = (m.flatten()[None, None] for m in (
            pred_semseg, pred_instance, true_semseg, true_instance))
    iou_sum, tp, fp, fn = ([0.0] * num_classes for _ in range(4))

    def segments(semseg, instance):
        keys = {(c, i if (c != 0 or mistake == "stuff split") else 0)
                for c, i in zip(semseg.flatten().tolist(), instance.flatten().tolist())}
        return {(c, i): (semseg == c) & ((instance == i) | (c == 0 and mistake != "stuff split")) for c, i in keys}

    for b in range(len(true_semseg)):
        predicted, true = segments(pred_semseg[b], pred_instance[b]), segments(true_semseg[b], true_instance[b])
        matched_pred, matched_true = set(), set()
        for pk, p in predicted.items():
            for tk, t in true.items():
                iou = int((p & t).sum()) / int((p | t).sum())
                if pk[0] == tk[0] and (iou >= 0.5 if mistake == ">=" else iou > 0.5):
                    iou_sum[pk[0]] += iou
                    tp[pk[0]] += 1
                    matched_pred.add(pk)
                    matched_true.add(tk)
        for pk in predicted.keys() - matched_pred:
            fp[pk[0]] += 1
        for tk in true.keys() - matched_true:
            fn[tk[0]] += 1
    scores = [iou_sum[c] / (tp[c] + fp[c] / 2 + fn[c] / 2) if tp[c] + fp[c] + fn[c] else 0.0
              for c in range(num_classes) if tp[c] + fp[c] + fn[c] or mistake == "all classes"]
    return sum(scores) / len(scores)


def _boundaries(p, half=0.5, sides="both", reduce="max"):
    """soft_boundaries with one plausible mistake (see the 06.q2 cases above)."""
    import torch
    import torch.nn.functional as F
    vertical = half * (p[..., 1:, :] - p[..., :-1, :]).abs().sum(1, keepdim=True)
    horizontal = half * (p[..., :, 1:] - p[..., :, :-1]).abs().sum(1, keepdim=True)
    pads = [F.pad(vertical, (0, 0, 1, 0)), F.pad(horizontal, (1, 0))]
    if sides == "both":
        pads += [F.pad(vertical, (0, 0, 0, 1)), F.pad(horizontal, (0, 1))]
    stacked = torch.stack(pads)
    return stacked.amax(dim=0) if reduce == "max" else stacked.sum(dim=0)


def _freeze_all_count_total(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("trunk.encoder."))


def _separate_trunks(num_classes):
    """Two tasks, each with its own trunk: no sharing at all."""
    from torch import nn

    from mtl_course.models import Decoder, DenseHead, Trunk, UNetEncoder

    class TwoTrunks(nn.Module):
        def __init__(self):
            super().__init__()
            first, second = UNetEncoder(), UNetEncoder()
            self.trunks = nn.ModuleList([Trunk(first, Decoder(first.channels, [16, 32, 64, 128])),
                                         Trunk(second, Decoder(second.channels, [16, 32, 64, 128]))])
            self.heads = nn.ModuleDict({"semseg": DenseHead(16, num_classes), "depth": DenseHead(16, 1)})

        def forward(self, x):
            return {name: head(trunk(x)) for (name, head), trunk in zip(self.heads.items(), self.trunks)}
    return TwoTrunks()


def _encoder_only_fraction():
    from mtl_course.models import build_model, count_parameters
    from mtl_course.tasks import get_task
    model = build_model([get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")])
    return count_parameters(model.trunk.encoder) / count_parameters(model)


@pytest.mark.parametrize("question, answer", _common_mistakes(), ids=lambda x: x if isinstance(x, str) else "")
def test_checks_reject_common_mistakes(question, answer):
    status, message = verdict(question, answer)
    assert status == "wrong", message


def test_the_mistakes_of_exercises_07_to_09_are_one_change_from_a_correct_answer():
    # without the mistake, each helper above is a correct answer: the checks reject the mistake, not the helper
    assert verdict("07.q1", _heatmap)[0] == "correct"
    assert verdict("07.q2", _group)[0] == "correct"
    assert verdict("07.q3", _pq)[0] == "correct"
    assert verdict("08.q1", _read_case)[0] == "correct"
    assert verdict("08.q2", _CaseDataset)[0] == "correct"
    assert verdict("08.q3", _pad16)[0] == "correct"
    assert verdict("09.q1", _distill)[0] == "correct"
    assert verdict("09.q2", _prune)[0] == "correct"
