"""Fixture submissions made from the solutions (so they cannot drift from them), for the grader tests."""

from __future__ import annotations

from pathlib import Path

import nbformat

from mtl_course.grading.build import MARKERS

ROOT = Path(__file__).resolve().parents[1]

# A wrong but plausible answer for every question: the mistake a learner is likely to make.
# {exercise: {answer cell's grade_id: its source}}
WRONG = {
    "01": {
        "q1-answer": "def miou_from_confusion(confusion):\n"      # classes absent from both count as IoU 0
                     "    c = confusion.double()\n"
                     "    tp = c.diag()\n"
                     "    return (tp / (c.sum(0) + c.sum(1) - tp).clamp(min=1)).mean().item()",
        "q2-answer": "def masked_l1(pred, target):\n"              # the invalid pixels are averaged in
                     "    return (pred - target).abs().mean()",
        "q3-answer": "def edge_pixel_weights(target):\n"          # each class weighted by its own share
                     "    f = target.mean()\n"
                     "    return torch.where(target > 0.5, f, 1 - f)",
        "q4-answer": "semseg = SyntheticScenes(n=128, size=48, split='val').tensors()['semseg']\n"
                     "background_accuracy = (semseg != 0).float().mean().item()",   # the object pixels instead
    },
    "02": {
        "q1-answer": "def delta_m_by_hand(mtl, stl, higher_is_better):\n"   # forgets lower-is-better tasks
                     "    return 100.0 * sum((mtl[t] - stl[t]) / stl[t] for t in stl) / len(stl)",
        "q2-answer": "class TwoTaskNet(nn.Module):\n"                 # semseg with one channel too few
                     "    def __init__(self, num_classes):\n"
                     "        super().__init__()\n"
                     "        encoder = UNetEncoder()\n"
                     "        self.trunk = Trunk(encoder, Decoder(encoder.channels, [16, 32, 64, 128]))\n"
                     "        self.heads = nn.ModuleDict({'semseg': DenseHead(16, num_classes - 1),\n"
                     "                                    'depth': DenseHead(16, 1)})\n"
                     "    def forward(self, x):\n"
                     "        shared = self.trunk(x)\n"
                     "        return {name: head(shared) for name, head in self.heads.items()}\n"
                     "def build_two_task_net(num_classes):\n"
                     "    return TwoTaskNet(num_classes)",
        "q3-answer": "tasks = [get_task('semseg', num_classes=6), get_task('depth'), get_task('edges')]\n"
                     "model = build_model(tasks)\n"                   # counts the encoder only
                     "shared_fraction = count_parameters(model.trunk.encoder) / count_parameters(model)",
        "q4-answer": "param_ratio = count_parameters(build_model(tasks)) / count_parameters(build_model(tasks, "
                     "sharing='none'))",                               # the ratio upside down
    },
    "03": {
        "q1-answer": "def uncertainty_objective(losses, log_vars):\n"   # without the log-variance term
                     "    return (torch.exp(-log_vars) * losses).sum()",
        "q2-answer": "def dwa_weights(last, before_last, temperature=2.0):\n"   # the ratio inverted
                     "    return len(last) * torch.softmax(before_last / last / temperature, dim=0)",
        "q3-answer": "def gls_weights(losses):\n"                       # arithmetic instead of geometric mean
                     "    return losses.mean() / losses",
        "q4-answer": "def pareto_front(points):\n"                      # only the last point
                     "    return [len(points) - 1]",
    },
    "04": {
        "q1-answer": "def cosine_matrix(G):\n"                          # the identity, right on the diagonal
                     "    return torch.eye(len(G))",
        "q2-answer": "def pcgrad_two(g1, g2):\n"                        # projects only g1
                     "    dot = g1 @ g2\n"
                     "    if dot >= 0:\n"
                     "        return g1 + g2\n"
                     "    return (g1 - dot / (g2 @ g2) * g2) + g2",
        "q3-answer": "def mgda_two(g1, g2):\n"                          # gamma not clipped to [0, 1]
                     "    diff = g1 - g2\n"
                     "    gamma = float(((g2 - g1) @ g2) / (diff @ diff))\n"
                     "    return gamma * g1 + (1 - gamma) * g2",
    },
    "05": {
        "q1-answer": "def feature_extraction(model):\n"                 # counts before freezing
                     "    return sum(p.numel() for p in model.parameters())",
        "q2-answer": "def head_groups(model, lr):\n"                    # the learning rates swapped
                     "    heads = {id(p) for p in model.heads.parameters()}\n"
                     "    ps = [p for p in model.parameters() if p.requires_grad]\n"
                     "    return [{'params': [p for p in ps if id(p) in heads], 'lr': lr},\n"
                     "            {'params': [p for p in ps if id(p) not in heads], 'lr': 10 * lr}]",
        "q3-answer": "def l2sp_penalty(model, reference, alpha, beta):\n"   # without the halves
                     "    close, new = torch.zeros(()), torch.zeros(())\n"
                     "    for name, p in model.named_parameters():\n"
                     "        if p.requires_grad and name in reference:\n"
                     "            close = close + (p - reference[name]).square().sum()\n"
                     "        elif p.requires_grad:\n"
                     "            new = new + p.square().sum()\n"
                     "    return alpha * close + beta * new",
    },
    "06": {
        "q1-answer": "def cross_stitch(maps, alpha):\n"                # alpha transposed: column t, not row t
                     "    return list(torch.einsum('st,sbchw->tbchw', alpha, torch.stack(maps)))",
        "q2-answer": "def soft_boundaries(p):\n"                       # the distance given to one pixel of a pair
                     "    v = 0.5 * (p[..., 1:, :] - p[..., :-1, :]).abs().sum(1, keepdim=True)\n"
                     "    h = 0.5 * (p[..., :, 1:] - p[..., :, :-1]).abs().sum(1, keepdim=True)\n"
                     "    return torch.maximum(F.pad(v, (0, 0, 1, 0)), F.pad(h, (1, 0)))",
        "q3-answer": "def consistency_loss(edge_logits, semseg_logits, weight=1.0):\n"   # logits, not probabilities
                     "    b = soft_boundaries(torch.softmax(semseg_logits, dim=1))\n"
                     "    return weight * (edge_logits - b).square().mean()",
    },
    "07": {
        "q1-answer": "def center_heatmap(instance, sigma=1.5):\n"           # Gaussians added up, not the maximum
                     "    B, H, W = instance.shape\n"
                     "    rows, cols = torch.meshgrid(torch.arange(H, dtype=torch.float64),\n"
                     "                                torch.arange(W, dtype=torch.float64), indexing='ij')\n"
                     "    heatmap = torch.zeros(B, 1, H, W, dtype=torch.float64)\n"
                     "    for b in range(B):\n"
                     "        for k in instance[b].unique().tolist():\n"
                     "            if k:\n"
                     "                inside = instance[b] == k\n"
                     "                py, px = torch.floor(rows[inside].mean() + 0.5), torch.floor(cols[inside].mean() + 0.5)\n"
                     "                heatmap[b, 0] += torch.exp(-((rows - py) ** 2 + (cols - px) ** 2) / (2 * sigma ** 2))\n"
                     "    return heatmap.float()",
        "q2-answer": "def group(semseg, heatmap, offsets, threshold=0.1, kernel=3):\n"   # votes = pixel - offset
                     "    H, W = semseg.shape\n"
                     "    pooled = F.max_pool2d(heatmap[None, None], kernel, stride=1, padding=kernel // 2)[0, 0]\n"
                     "    peak = (heatmap == pooled) & (heatmap > threshold)\n"
                     "    centres = peak.nonzero()[heatmap[peak].argsort(descending=True, stable=True)].float()\n"
                     "    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij')\n"
                     "    votes = torch.stack([rows, cols]).float() - offsets\n"
                     "    d = (votes.flatten(1).T[:, None, :] - centres[None]).norm(dim=2)\n"
                     "    return torch.where(semseg > 0, d.argmin(1).view(H, W) + 1, 0)",
        "q3-answer": "def panoptic(pred_semseg, pred_instance, true_semseg, true_instance, num_classes):\n"
                     "    scores = []\n"                                     # one PQ per image and class, averaged
                     "    for b in range(len(true_semseg)):\n"
                     "        for c in range(num_classes):\n"
                     "            p = (pred_semseg[b] == c)\n"
                     "            t = (true_semseg[b] == c)\n"
                     "            if p.any() or t.any():\n"
                     "                iou = int((p & t).sum()) / int((p | t).sum())\n"
                     "                scores.append(iou if iou > 0.5 else 0.0)\n"
                     "    return sum(scores) / len(scores)",
    },
    "08": {
        "q1-answer": "def read_case(folder):\n"                                 # 9 (not annotated) kept as a class
                     "    scan = torch.from_numpy(np.array(Image.open(folder / 'image.png'))).float() / 255\n"
                     "    label = torch.from_numpy(np.array(Image.open(folder / 'label.png'))).long()\n"
                     "    return {'image': scan.expand(3, -1, -1).clone(), 'semseg': label}",
        "q2-answer": "class CaseDataset(Dataset):\n"                            # image and mask transformed apart
                     "    def __init__(self, root, transforms=None):\n"
                     "        self.folders = sorted(p for p in Path(root).iterdir() if p.is_dir())\n"
                     "        self.transforms = transforms\n"
                     "    def __len__(self):\n"
                     "        return len(self.folders)\n"
                     "    def __getitem__(self, index):\n"
                     "        sample = read_case(self.folders[index])\n"
                     "        if self.transforms is not None:\n"
                     "            sample = {k: self.transforms(v) for k, v in sample.items()}\n"
                     "        return sample",
        "q3-answer": "def pad_to_16(image, semseg):\n"                         # the padded labels are background
                     "    height, width = semseg.shape\n"
                     "    pad = (0, -width % 16, 0, -height % 16)\n"
                     "    return F.pad(image, pad), F.pad(semseg, pad)",
    },
    "09": {
        "q1-answer": "def distillation_loss(student, teacher, form, temperature=2.0):\n"   # forgot the T^2
                     "    if form == 'softmax':\n"
                     "        p = F.log_softmax(teacher / temperature, 1)\n"
                     "        q = F.log_softmax(student / temperature, 1)\n"
                     "        return (p.exp() * (p - q)).sum(1).mean()\n"
                     "    if form == 'sigmoid':\n"
                     "        return F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher))\n"
                     "    return (student - teacher).abs().mean()",
        "q2-answer": "def prune_by_hand(weight, amount):\n"                       # ranks by w, not |w|
                     "    k = round(amount * weight.numel())\n"
                     "    out = weight.clone()\n"
                     "    out.view(-1)[weight.flatten().argsort()[:k]] = 0\n"
                     "    return out",
        "q3-answer": "def nonzero_weights(model):\n"                             # every parameter named *weight*
                     "    return sum(int((p != 0).sum()) for n, p in model.named_parameters() if 'weight' in n)",
    },
}


def solution_path(exercise: str) -> Path:
    return next((ROOT / "solutions").glob(f"{exercise}_*.ipynb"))


def correct_copy(solution: Path) -> nbformat.NotebookNode:
    """What a student who solved everything hands in: the solution without its hidden tests or markers."""
    notebook = nbformat.read(solution, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept, hidden = [], False
        for line in cell.source.splitlines():
            match = MARKERS.match(line)
            if match and match["what"] == "HIDDEN TESTS":
                hidden = match["kind"] == "BEGIN"
            elif not match and not hidden:
                kept.append(line)
        cell.source = "\n".join(kept)
    return notebook


def untouched_copy(solution: Path) -> nbformat.NotebookNode:
    """The student copy as released (exercises/)."""
    return nbformat.read(ROOT / "exercises" / solution.name, as_version=4)


def replace_answer(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    return notebook


def wrong_copy(exercise: str) -> nbformat.NotebookNode:
    """The correct copy with every answer replaced by its wrong but plausible version (WRONG)."""
    notebook = correct_copy(solution_path(exercise))
    for grade_id, source in WRONG[exercise].items():
        replace_answer(notebook, grade_id, source)
    return notebook
