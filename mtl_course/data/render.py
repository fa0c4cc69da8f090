"""Render procedural scenes: objects standing on a ground plane in front of a wall.

One render produces every label map, so the tasks are genuinely related:

    camera (height 1.5 m, looking level)      image rows above the horizon show the wall (depth 12 m);
           |  \\                                rows below show the ground, nearer as they go down.
    -------+---------- horizon                Objects stand on the ground at depth z: farther ones
           |      [obj]  [obj]                  are smaller and their feet are higher in the image.
    ground ......................            A per-pixel z-buffer picks the nearest surface.

Each shape class is a radius function R(theta) around its centre ("a pixel is inside when
r <= R(theta)"); a dome-shaped height field over the shape gives depth relief and surface normals,
and Lambertian shading of those normals gives the image its 3-D look.

Everything is vectorised over a batch of N scenes with K object slots each.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CLASSES = ["background", "disc", "box", "triangle", "ring", "star"]

CAMERA_HEIGHT = 1.5   # metres above the ground
HORIZON = 0.3         # horizon row as a fraction of the image height
WALL_DEPTH = 12.0     # metres; the back wall closes the scene
NEAR, FAR = 2.2, 5.0  # object depth range, metres
MIN_HALF, MAX_HALF = 0.5, 0.9  # object half-size range, metres

DOMAINS = ("source", "target")
CLASS_COLOURS = torch.tensor([[0.5, 0.5, 0.5], [0.9, 0.2, 0.2], [0.2, 0.4, 0.9], [0.9, 0.8, 0.2],
                              [0.2, 0.8, 0.3], [0.7, 0.3, 0.9]])   # background unused, then per class


def sample_scenes(n: int, max_objects: int, domain: str, generator: torch.Generator) -> dict[str, Tensor]:
    """Draw the random parameters of n scenes (cheap; rendering is the expensive part).

    Returns float/int tensors, K = max_objects:
        present [N, K] bool, cls [N, K] int64 in 1..5, depth [N, K], half [N, K] (metres),
        col [N, K] (image column of the centre, 0..1), angle [N, K], colour [N, K, 3],
        light [N, 3] unit vector, noise_seed [N] int64, ground [N, 2, 3] and wall [N, 3] colours,
        noise [N] (standard deviation of the sensor noise).
    """
    g = generator

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    count = torch.randint(1, max_objects + 1, (n, 1), generator=g)
    light = torch.stack([uniform(n, low=-0.6, high=0.6), uniform(n, low=0.4, high=1.0),
                         uniform(n, low=0.4, high=1.0)], dim=1)
    scenes = {
        "present": torch.arange(max_objects).expand(n, max_objects) < count,
        "cls": torch.randint(1, len(CLASSES), (n, max_objects), generator=g),
        "depth": uniform(n, max_objects, low=NEAR, high=FAR),
        "half": uniform(n, max_objects, low=MIN_HALF, high=MAX_HALF),
        "col": uniform(n, max_objects, low=0.1, high=0.9),
        "angle": uniform(n, max_objects, low=-0.4, high=0.4),
        "colour": None,  # set below from the class

        "light": light / light.norm(dim=1, keepdim=True),
        "noise_seed": torch.randint(0, 2**62, (n,), generator=g),
    }
    # each class has a colour family (as real categories do): half its own hue, half random
    random_colour = uniform(n, max_objects, 3, low=0.15, high=0.95)
    scenes["colour"] = 0.5 * CLASS_COLOURS[scenes["cls"]] + 0.5 * random_colour
    if domain == "source":   # plain: grey floor and wall, almost no noise
        grey = uniform(n, 1, 1, low=0.45, high=0.55)
        scenes["ground"] = grey.expand(n, 2, 3).clone()
        scenes["wall"] = uniform(n, 1, low=0.65, high=0.75).expand(n, 3).clone()
        scenes["noise"] = torch.full((n,), 0.01)
    else:                    # target: coloured checkerboard floor, coloured wall, more noise
        scenes["ground"] = uniform(n, 2, 3, low=0.1, high=0.9)
        scenes["wall"] = uniform(n, 3, low=0.2, high=0.9)
        scenes["noise"] = uniform(n, low=0.02, high=0.06)
    return scenes


# Each outline is a regular star polygon: `points` outer vertices at radius `scale`, joined through
# inner vertices at radius `inner * scale`. A convex polygon has inner = cos(pi / points).
#            background  disc  box                       triangle                  ring  star
POINTS = torch.tensor([1.0, 1.0, 4.0, 3.0, 1.0, 5.0])
INNER = torch.tensor([1.0, 1.0, math.cos(math.pi / 4), math.cos(math.pi / 3), 1.0, 0.45])
SCALE = torch.tensor([1.0, 1.0, 0.8, 1.0, 1.0, 1.0])
ROUND = torch.tensor([True, True, False, False, True, False])   # disc and ring: R(theta) = 1


def shape_radius(cls: Tensor, theta: Tensor) -> Tensor:
    """Radius R(theta) of each shape class's outline, in units of the object's half-size.

    Inputs:
        cls:   int64 [...]   class ids 1..5 (broadcastable against theta)
        theta: float [...]   angle of the pixel around the object centre
    Returns:
        float [...]  the outline radius; a ring is a disc here (its hole is cut in `dome_height`)
    """
    # Between an outer vertex (radius 1, angle 0) and the next inner vertex (radius `inner`,
    # angle half = pi/points) the outline is a straight line; mirror it to fill each sector.
    sector = 2 * math.pi / POINTS[cls]
    half, inner = sector / 2, INNER[cls]
    t = torch.remainder(theta + math.pi / 2, sector)      # a vertex points straight up
    t = torch.minimum(t, sector - t)
    radius = SCALE[cls] * inner * torch.sin(half) / (torch.sin(t) + inner * torch.sin(half - t))
    return torch.where(ROUND[cls], 1.0, radius)


def dome_height(cls: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Height of each object's surface above its base, 0 outside the shape, up to 1 in the middle.

    Inputs:
        cls:  int64 [...]  class ids (broadcastable)
        u, v: float [...]  pixel offset from the object centre in half-sizes (v points down)
    Returns:
        float [...]  height h = sqrt(1 - rho^2) where rho = r / R(theta) < 1, else 0
    """
    r = torch.sqrt(u * u + v * v)
    rho = r / shape_radius(cls, torch.atan2(v, u))
    ring_rho = (r - 0.775).abs() / 0.225          # a ring is a torus between radii 0.55 and 1
    rho = torch.where(cls == 4, ring_rho, rho)
    return torch.sqrt(torch.clamp(1 - rho * rho, min=0.0))


def layers(scenes: dict[str, Tensor], size: int) -> dict[str, Tensor]:
    """Every surface of each scene before occlusion: the background and each object slot.

    Returns (N scenes, K slots, S = size):
        bg_depth [N, S, S], bg_normal [N, 3, S, S], bg_albedo [N, 3, S, S]
        obj_depth [N, K, S, S] (inf where the object does not cover the pixel),
        slope_x, slope_y [N, K, S, S] (surface slopes that give the object normals)
    """
    n, k = scenes["cls"].shape
    f = float(size)                                    # focal length in pixels (~53 degree view)
    pix = torch.arange(size, dtype=torch.float32) + 0.5
    rows, cols = pix.view(1, 1, size, 1), pix.view(1, 1, 1, size)

    # --- background: ground plane below the horizon, wall behind ---------------------------
    below = (pix - HORIZON * size).clamp(min=1e-6)
    ground_depth = (f * CAMERA_HEIGHT / below).clamp(max=WALL_DEPTH)            # [S]
    is_wall = (ground_depth >= WALL_DEPTH).view(1, size, 1).expand(n, size, size)
    bg_depth = ground_depth.view(1, size, 1).expand(n, size, size)
    bg_normal = torch.where(is_wall.unsqueeze(1), torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1),
                            torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1))      # [N, 3, S, S]
    world_x = (pix.view(1, size) - size / 2) * ground_depth.view(size, 1) / f   # [S, S]
    checker = ((torch.floor(world_x / 0.5) + torch.floor(ground_depth.view(size, 1) / 0.5)) % 2).long()
    ground_colour = scenes["ground"][:, checker].permute(0, 3, 1, 2)             # [N, 3, S, S]
    bg_albedo = torch.where(is_wall.unsqueeze(1), scenes["wall"].view(n, 3, 1, 1), ground_colour)

    # --- objects: placed by perspective, then a dome height field each --------------------
    z, half_m = scenes["depth"], scenes["half"]
    half_px = (f * half_m / z).view(n, k, 1, 1)
    foot_row = HORIZON * size + f * CAMERA_HEIGHT / z
    centre_row = (foot_row - f * half_m / z).view(n, k, 1, 1)
    centre_col = (scenes["col"] * size).view(n, k, 1, 1)
    du, dv = (cols - centre_col) / half_px, (rows - centre_row) / half_px
    cos_a, sin_a = torch.cos(scenes["angle"]).view(n, k, 1, 1), torch.sin(scenes["angle"]).view(n, k, 1, 1)
    u, v = cos_a * du + sin_a * dv, -sin_a * du + cos_a * dv                     # object axes
    cls = scenes["cls"].view(n, k, 1, 1)
    height = dome_height(cls, u, v)                                              # [N, K, S, S]
    inside = (height > 0) & scenes["present"].view(n, k, 1, 1)
    obj_depth = torch.where(inside, z.view(n, k, 1, 1) - 0.5 * half_m.view(n, k, 1, 1) * height,
                            torch.full_like(height, math.inf))

    # surface slope in metres per metre: dh/d(image px) * half_px, halved as the depth relief is
    dh_drow, dh_dcol = torch.gradient(height, dim=(2, 3))
    slope_x, slope_y = 0.5 * dh_dcol * half_px, -0.5 * dh_drow * half_px          # y axis points up

    return {"bg_depth": bg_depth, "bg_normal": bg_normal, "bg_albedo": bg_albedo, "obj_depth": obj_depth,
            "slope_x": slope_x, "slope_y": slope_y}


def render(scenes: dict[str, Tensor], size: int) -> dict[str, Tensor]:
    """Render scenes to images and aligned label maps.

    Inputs:
        scenes: the dict from `sample_scenes` (N scenes, K object slots)
        size:   image height and width S in pixels
    Returns:
        image    uint8   [N, 3, S, S]
        semseg   uint8   [N, S, S]   class of the visible surface, 0 = background
        instance uint8   [N, S, S]   k + 1 for visible object slot k, 0 = background
        depth    float32 [N, 1, S, S] metres, > 0
        normals  float32 [N, 3, S, S] unit vectors in camera axes (x right, y up, z to the camera)
    """
    n, k = scenes["cls"].shape
    surfaces = layers(scenes, size)
    bg_depth, bg_normal, bg_albedo = surfaces["bg_depth"], surfaces["bg_normal"], surfaces["bg_albedo"]
    obj_depth, slope_x, slope_y = surfaces["obj_depth"], surfaces["slope_x"], surfaces["slope_y"]

    # --- z-buffer: the nearest surface at each pixel wins ---------------------------------
    depth, visible = bg_depth.clone(), torch.zeros(n, size, size, dtype=torch.long)  # 0 = background
    for slot in range(k):
        nearer = obj_depth[:, slot] < depth
        depth = torch.where(nearer, obj_depth[:, slot], depth)
        visible = torch.where(nearer, slot + 1, visible)
    on_object = (visible > 0).unsqueeze(1)
    slot_map = (visible - 1).clamp(min=0).unsqueeze(1)                              # [N, 1, S, S]
    sx, sy = slope_x.gather(1, slot_map), slope_y.gather(1, slot_map)
    obj_normal = torch.cat([-sx, -sy, torch.ones_like(sx)], dim=1) / torch.sqrt(sx * sx + sy * sy + 1)
    normals = torch.where(on_object, obj_normal, bg_normal)
    depth = depth.unsqueeze(1)
    semseg = torch.where(visible > 0, scenes["cls"].gather(1, slot_map.view(n, -1)).view(n, size, size), 0)
    obj_albedo = scenes["colour"].gather(1, slot_map.view(n, -1, 1).expand(-1, -1, 3))
    obj_albedo = obj_albedo.view(n, size, size, 3).permute(0, 3, 1, 2)
    albedo = torch.where(on_object, obj_albedo, bg_albedo)

    # --- Lambertian shading + sensor noise, quantised to 8 bits like a real photo ---------
    shade = 0.35 + 0.65 * (normals * scenes["light"].view(n, 3, 1, 1)).sum(1, keepdim=True).clamp(min=0)
    noise = torch.stack([torch.randn(3, size, size, generator=torch.Generator().manual_seed(int(s)))
                         for s in scenes["noise_seed"]]) * scenes["noise"].view(n, 1, 1, 1)
    image = ((albedo * shade + noise).clamp(0, 1) * 255).round().to(torch.uint8)

    return {
        "image": image,
        "semseg": semseg.to(torch.uint8),
        "instance": visible.to(torch.uint8),
        "depth": depth,
        "normals": normals,
    }


def boundaries(instance: Tensor) -> Tensor:
    """Mark pixels that touch a different instance (4-neighbourhood), on both sides of a boundary.

    Inputs:
        instance: int [..., H, W]  instance ids, 0 = background
    Returns:
        float32 [..., H, W] in {0, 1}
    """
    edge = torch.zeros(instance.shape, dtype=torch.bool)
    vertical = instance[..., 1:, :] != instance[..., :-1, :]
    horizontal = instance[..., :, 1:] != instance[..., :, :-1]
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    return edge.float()
