"""Edge F-score by the BSDS benchmark's protocol, so that edge numbers can be compared with published ones.

The protocol (Martin, Fowlkes & Malik, PAMI 2004; Arbeláez et al., PAMI 2011; the BSDS500 code's
`correspondPixels` and `collect_eval_bdry`), at each threshold t:
1. the predicted edge map prob >= t is **thinned** to one-pixel-wide lines (MATLAB's bwmorph(E, 'thin', Inf),
   the thinning of Guo & Hall 1989, as the BSDS code does);
2. thinned predicted pixels and true edge pixels are **matched one to one**; a pair may match when the
   two pixels are at most max_dist * (image diagonal) apart (BSDS: max_dist = 0.0075). The number of
   matches is the largest possible (a maximum bipartite matching; BSDS's min-cost assignment with a high
   cost for unmatched pixels gives the same number);
3. precision = matches / thinned predicted pixels, recall = matches / true edge pixels.
The true edges are thinned too. A BSDS annotation is one pixel wide; the course's targets mark the pixels on
both sides of each boundary (2 px), and a one-pixel prediction could match only half of them (recall <= 0.5
for a perfect model). Thinning leaves one line per boundary; a one-pixel ground truth is left as it is, except
the redundant corner pixels of 4-connected staircases.
ODS: F at the one threshold best for the whole dataset (counts summed over images). OIS: each image at its
own best threshold, then the counts summed. A 3-pixel-wide prediction of a 1-pixel line thins to one line
(F = 1); without thinning, two of its three pixels would stay unmatched (F = 0.5).

Differences from the BSDS code, both small: the best F is taken at one of the thresholds, not interpolated
between them; and there is one human annotation per image (BSDS averages over several).

Note the scale: max_dist is relative to the image. At BSDS's 481x321 pixels 0.0075 is 4.3 px; at the
course's 48x48 it is 0.51 px, so only exact positions match.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from torch import Tensor

from mtl_course.metrics.edges import precision_recall_f

MAX_DIST = 0.0075                              # the BSDS default, a fraction of the image diagonal
THRESHOLDS = torch.linspace(0.01, 0.99, 50)    # BSDS uses 99; 50 resolve the best F to within 0.02 in t


# --- 1. thinning --------------------------------------------------------------------------------------------
def _thinning_tables() -> tuple[Tensor, Tensor]:
    """Guo & Hall's deletion rules for the two sub-iterations, as 256-entry tables indexed by the 8-neighbourhood.

    Bit i of the index is neighbour x_{i+1}: x1 = east, then counter-clockwise (NE, N, NW, W, SW, S, SE)."""
    def bits(n: int) -> list[bool]:
        return [bool(n >> i & 1) for i in range(8)]

    def g1(b: list[bool]) -> bool:              # exactly one 4-connected run of background around the pixel
        return sum(not b[i] and (b[i + 1] or b[(i + 2) % 8]) for i in (0, 2, 4, 6)) == 1

    def g2(b: list[bool]) -> bool:              # the pixel is an end of a line or inside a 2-3 pixel thick part
        n1 = sum(b[k] or b[k - 1] for k in (1, 3, 5, 7))
        n2 = sum(b[k] or b[(k + 1) % 8] for k in (1, 3, 5, 7))
        return min(n1, n2) in (2, 3)

    def g3(b: list[bool]) -> bool:              # first sub-iteration: not a north-east boundary pixel to keep
        return not ((b[1] or b[2] or not b[7]) and b[0])

    def g3p(b: list[bool]) -> bool:             # second sub-iteration: the same for south-west
        return not ((b[5] or b[6] or not b[3]) and b[4])

    first = torch.tensor([g1(bits(n)) and g2(bits(n)) and g3(bits(n)) for n in range(256)])
    second = torch.tensor([g1(bits(n)) and g2(bits(n)) and g3p(bits(n)) for n in range(256)])
    return first, second


DELETE_FIRST, DELETE_SECOND = _thinning_tables()
# (dy, dx) of neighbour x1..x8: east, then counter-clockwise
NEIGHBOURS = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]


def _at_least_two(a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    return (a & b) | (a & c) | (a & d) | (b & c) | (b & d) | (c & d)


def _deletable(skeleton: Tensor, second: bool) -> Tensor:
    """The pixels that a sub-iteration deletes: the rules of _thinning_tables written as bitwise logic on the
    eight neighbour maps (a test checks both agree). Only &, |, ~ are used, so `skeleton` can be bool maps
    [N, H, W] or int64 words [N, H, W] whose 64 bits are 64 maps (thin packs them so: 64x less work)."""
    padded = F.pad(skeleton, (1, 1, 1, 1))
    height, width = skeleton.shape[-2:]
    b = [padded[:, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in NEIGHBOURS]
    t = [~b[i] & (b[i + 1] | b[(i + 2) % 8]) for i in (0, 2, 4, 6)]     # g1: exactly one of these
    one_run = (t[0] | t[1] | t[2] | t[3]) & ~_at_least_two(*t)
    u = [b[k] | b[k - 1] for k in (1, 3, 5, 7)]                          # g2: min(n1, n2) in {2, 3},
    v = [b[k] | b[(k + 1) % 8] for k in (1, 3, 5, 7)]                    # n1 = how many u, n2 = how many v
    all_u, all_v = u[0] & u[1] & u[2] & u[3], v[0] & v[1] & v[2] & v[3]
    two_or_three = _at_least_two(*u) & _at_least_two(*v) & (~all_u | ~all_v)
    keep = ((b[5] | b[6] | ~b[3]) & b[4]) if second else ((b[1] | b[2] | ~b[7]) & b[0])
    return skeleton & one_run & two_or_three & ~keep


def thin(mask: Tensor) -> Tensor:
    """Thin bool masks [N, H, W] to one-pixel-wide lines (bwmorph(mask, 'thin', Inf)), all at once.

    The maps are packed 64 to an int64 word (bit j of word k = map 64k + j); each pass runs the two
    sub-iterations on the words that still changed in the pass before."""
    n, height, width = mask.shape
    groups = -(-n // 64)
    bits = F.pad(mask.bool().cpu(), (0, 0, 0, 0, 0, 64 * groups - n)).view(groups, 64, height, width)
    words = torch.zeros(groups, height, width, dtype=torch.long)
    for j in range(64):
        words |= bits[:, j].long() << j
    active = torch.arange(groups)
    while len(active):
        part = before = words[active]
        for second in (False, True):
            part = part & ~_deletable(part, second)
        words[active] = part
        active = active[(part != before).flatten(1).any(1)]
    thinned = torch.empty(groups, 64, height, width, dtype=torch.bool)
    for j in range(64):
        thinned[:, j] = (words >> j) & 1
    return thinned.view(64 * groups, height, width)[:n].to(mask.device)


# --- 2. one-to-one matching ---------------------------------------------------------------------------------
def _offsets(radius: float) -> list[tuple[int, int]]:
    r = math.floor(radius)
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius * radius]


def match_counts(predicted: Tensor, truth: Tensor, radius: float) -> Tensor:
    """How many pixels of each predicted map match, one to one, a true pixel at most `radius` pixels away.

    Inputs: predicted, truth bool [N, H, W]. Returns int64 [N]. One maximum bipartite matching (Hopcroft-Karp,
    scipy) over all N images at once: no pair crosses two images, so it splits into one matching per image."""
    n, height, width = truth.shape
    if radius < 1:                              # only the same position can match: one to one already
        return (predicted & truth).flatten(1).sum(1).cpu()
    ids = torch.full((n, height, width), -1, dtype=torch.long)
    ids[truth.cpu()] = torch.arange(int(truth.sum()))
    image, y, x = predicted.cpu().nonzero(as_tuple=True)
    if len(image) == 0 or int(truth.sum()) == 0:
        return torch.zeros(n, dtype=torch.long)
    r = math.floor(radius)
    padded = F.pad(ids, (r, r, r, r), value=-1)
    rows, cols = [], []
    for dy, dx in _offsets(radius):
        candidate = padded[image, y + dy + r, x + dx + r]
        near = candidate >= 0
        rows.append(near.nonzero(as_tuple=True)[0])
        cols.append(candidate[near])
    rows_np, cols_np = torch.cat(rows).numpy(), torch.cat(cols).numpy()
    graph = csr_matrix((np.ones(len(rows_np), dtype=np.int8), (rows_np, cols_np)),
                       shape=(len(image), int(truth.sum())))
    partner = maximum_bipartite_matching(graph, perm_type="column")     # for each predicted pixel: its match or -1
    matched = torch.from_numpy(partner >= 0)
    return torch.bincount(image[matched], minlength=n)


# --- 3. counts and scores -----------------------------------------------------------------------------------
def bsds_counts(prob: Tensor, target: Tensor, max_dist: float = MAX_DIST, thresholds: Tensor = THRESHOLDS) -> Tensor:
    """Inputs: prob float [B, 1, H, W] in [0, 1], target [B, 1, H, W] in {0, 1}.

    Returns float64 [len(thresholds) + 1, 4], columns (thinned predicted pixels, of them matched, thinned true
    edge pixels, of them matched): rows 0..T-1 summed over the images at each threshold (for ODS), the last row the
    images' counts at each one's own best threshold (for OIS). Adds up over batches."""
    truth = thin((target > 0.5)[:, 0])
    batch, height, width = truth.shape
    radius = max_dist * math.hypot(height, width)
    levels = len(thresholds)
    predicted = thin((prob[:, 0][None] >= thresholds.to(prob.device).view(-1, 1, 1, 1)).flatten(0, 1))
    matched = match_counts(predicted, truth.repeat(levels, 1, 1), radius).view(levels, batch).double()
    n_predicted = predicted.view(levels, batch, -1).sum(-1).cpu().double()
    n_truth = truth.view(batch, -1).sum(-1).cpu().double().expand(levels, batch)
    per_image = torch.stack([n_predicted, matched, n_truth, matched], dim=-1)          # [T, B, 4]
    best = precision_recall_f(per_image)[2].argmax(0)                   # each image's best t
    own_best = per_image[best, torch.arange(batch)].sum(0)
    return torch.cat([per_image.sum(1), own_best[None]])


def bsds_scores(counts: Tensor, thresholds: Tensor = THRESHOLDS) -> dict[str, float]:
    """f_score (ODS), precision and recall at its threshold, the threshold, and ois (F at each image's best).
    NaN for all when the data holds no true edge pixel (nothing to find)."""
    if counts[:-1, 2].sum() == 0:
        return {k: math.nan for k in ("f_score", "precision", "recall", "threshold", "ois")}
    precision, recall, f = precision_recall_f(counts[:-1])
    best = int(f.argmax())
    return {"f_score": f[best].item(), "precision": precision[best].item(), "recall": recall[best].item(),
            "threshold": thresholds[best].item(), "ois": precision_recall_f(counts[-1])[2].item()}
