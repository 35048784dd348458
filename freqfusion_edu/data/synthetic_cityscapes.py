"""A procedural stand-in for Cityscapes with the exact folder and file layout.

Cityscapes may not be redistributed, so tests, CI and the book's fast mode use street-like
scenes drawn from polygons instead: sky, buildings with windows, vegetation, a road with lane
marks in perspective, sidewalks, terrain, thin poles with signs and lights, cars, people, and
void regions (ego vehicle, rectification border, static objects, parking, ground) whose labelIds
map to the ignore value 255. As in Cityscapes, the polygons are drawn in order (later ones on
top) to make the label maps, and the same polygons are stored in ``*_gtFine_polygons.json``.

Layout written under ``root`` (like the real download, plus the optional trainId files)::

    leftImg8bit/{split}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
    gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png       (uint8 labelIds)
    gtFine/{split}/{city}/..._gtFine_labelTrainIds.png  (uint8 trainIds, 255 = ignore)
    gtFine/{split}/{city}/..._gtFine_instanceIds.png    (uint16: id*1000+k for cars/people)
    gtFine/{split}/{city}/..._gtFine_color.png          (RGB, official colours)
    gtFine/{split}/{city}/..._gtFine_polygons.json

Everything is deterministic in ``seed``.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from .cityscapes import LABEL_ID_TO_TRAIN_ID, LABELS

__all__ = ["generate_cityscapes_like", "render_scene", "CITIES"]

CITIES = {"train": ("aachen", "bochum", "bremen"), "val": ("frankfurt", "lindau", "munster"),
          "test": ("berlin", "bielefeld", "bonn")}
_NAME_TO_ID = {l.name: l.id for l in LABELS if l.id >= 0}
_ID_TO_COLOR = {l.id: l.color for l in LABELS if l.id >= 0}
_INSTANCE_LABELS = {"car", "person"}
_FRAME = 19  # the annotated frame of every Cityscapes snippet is the 20th (index 19)


def _ellipse(cx, cy, rx, ry, n=18):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in t]


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _scene_objects(rng: np.random.Generator, H: int, W: int):
    """List of (label name, polygon [(x, y), ...], paint dict) in drawing order."""
    objs = []

    def add(label, poly, **paint):
        objs.append((label, [(round(x, 1), round(y, 1)) for x, y in poly], paint))

    hy = H * rng.uniform(0.36, 0.5)                     # horizon
    vx = W * rng.uniform(0.35, 0.65)                    # vanishing point
    add("sky", _rect(0, 0, W - 1, hy + 2))
    # buildings along the horizon, leaving some sky
    x = -rng.uniform(0, 0.1) * W
    while x < W:
        bw = W * rng.uniform(0.08, 0.22)
        if rng.random() < 0.85:
            top = H * rng.uniform(0.04, 0.3)
            shade = rng.uniform(70, 190)
            tint = rng.uniform(-20, 20, size=3)
            add("building", _rect(x, top, x + bw, hy + 4),
                color=tuple(float(v) for v in np.clip(shade + tint, 0, 255)), windows=True)
        x += bw + W * rng.uniform(0.0, 0.04)
    # a wall or fence segment now and then (trained classes that are rare in the synthetic set)
    if rng.random() < 0.4:
        x0 = W * rng.uniform(0, 0.7)
        add(rng.choice(["wall", "fence"]), _rect(x0, hy - H * 0.06, x0 + W * rng.uniform(0.1, 0.3), hy + 3))
    # trees
    for _ in range(rng.integers(1, 4)):
        cx, cy = W * rng.uniform(0, 1), hy - H * rng.uniform(0.0, 0.12)
        add("vegetation", _ellipse(cx, cy, W * rng.uniform(0.04, 0.1), H * rng.uniform(0.06, 0.14)))
    # ground: sidewalk everywhere below the horizon, then terrain, then the road
    add("sidewalk", _rect(0, hy, W - 1, H - 1))
    if rng.random() < 0.6:
        side = rng.integers(0, 2)
        xs = (0, W * rng.uniform(0.05, 0.15)) if side == 0 else (W * rng.uniform(0.85, 0.95), W - 1)
        add("terrain", [(xs[0], hy + H * 0.15), (xs[1], hy + H * 0.1), (xs[1], H - 1), (xs[0], H - 1)])
    bl, br = W * rng.uniform(-0.25, 0.12), W * rng.uniform(0.88, 1.25)
    road = [(vx - W * 0.03, hy), (vx + W * 0.03, hy), (br, H - 1), (bl, H - 1)]
    add("road", road, lanes=(vx, hy, bl, br))
    # void ground patches: parking beside the road, a 'ground' patch
    if rng.random() < 0.5:
        py = hy + (H - hy) * rng.uniform(0.3, 0.6)
        side = rng.integers(0, 2)
        px = W * (rng.uniform(0.0, 0.1) if side == 0 else rng.uniform(0.8, 0.9))
        add("parking", _rect(px, py, px + W * 0.1, py + H * 0.05))
    if rng.random() < 0.3:
        gx = W * rng.uniform(0, 0.9)
        add("ground", _rect(gx, hy + H * 0.02, gx + W * 0.08, hy + H * 0.06))

    def ground_y():  # a y below the horizon; objects further down are nearer, so bigger
        return hy + (H - hy) * rng.uniform(0.15, 0.85)

    # poles with signs / lights, thin: 1 px at 256 wide
    pw = max(1.0, W / 256)
    for _ in range(rng.integers(2, 5)):
        yb = ground_y()
        depth = (yb - hy) / (H - hy)
        x = W * (rng.uniform(0.02, 0.2) if rng.random() < 0.5 else rng.uniform(0.8, 0.98))
        top = yb - H * (0.25 + 0.45 * depth)
        add("pole", _rect(x, top, x + pw * (1 + 2 * depth) - 1, yb))
        r = rng.random()
        s = W * (0.01 + 0.025 * depth)
        if r < 0.4:
            add("traffic sign", _rect(x - s, top, x + s, top + 1.6 * s))
        elif r < 0.7:
            add("traffic light", _rect(x - 0.6 * s, top, x + 0.6 * s, top + 2.2 * s),
                lamp=True)
    # static void objects (bins, boxes)
    for _ in range(rng.integers(0, 3)):
        yb = ground_y()
        x = W * rng.uniform(0, 1)
        s = W * 0.015 * (1 + 2 * (yb - hy) / (H - hy))
        add("static", _rect(x, yb - 1.5 * s, x + s, yb))
    # cars on the road (far ones first so near ones occlude them)
    cars = sorted(ground_y() for _ in range(rng.integers(1, 5)))
    for yb in cars:
        depth = (yb - hy) / (H - hy)
        cw, ch = W * (0.06 + 0.22 * depth), H * (0.04 + 0.16 * depth)
        frac = (yb - hy) / (H - 1 - hy)
        lx = vx + (bl - vx) * frac
        rx = vx + (br - vx) * frac
        x0 = rng.uniform(lx, max(lx + 1, rx - cw))
        body = [(x0, yb - 0.55 * ch), (x0 + 0.2 * cw, yb - 0.6 * ch), (x0 + 0.3 * cw, yb - ch),
                (x0 + 0.75 * cw, yb - ch), (x0 + 0.85 * cw, yb - 0.6 * ch), (x0 + cw, yb - 0.5 * ch),
                (x0 + cw, yb), (x0, yb)]
        col = rng.choice([[20, 20, 25], [200, 200, 205], [150, 20, 20], [30, 50, 120],
                          [120, 120, 125], [230, 230, 230]])
        add("car", body, color=tuple(float(c) for c in col), car=(x0, yb, cw, ch))
    # people on the sidewalks
    for _ in range(rng.integers(1, 4)):
        yb = ground_y()
        depth = (yb - hy) / (H - hy)
        ph = H * (0.08 + 0.3 * depth)
        x = W * (rng.uniform(0.0, 0.2) if rng.random() < 0.5 else rng.uniform(0.8, 1.0))
        w = ph * 0.3
        shape = [(x + 0.35 * w, yb - ph), (x + 0.65 * w, yb - ph), (x + 0.7 * w, yb - 0.85 * ph),
                 (x + w, yb - 0.5 * ph), (x + 0.75 * w, yb), (x + 0.55 * w, yb),
                 (x + 0.5 * w, yb - 0.4 * ph), (x + 0.45 * w, yb), (x + 0.25 * w, yb),
                 (x, yb - 0.5 * ph), (x + 0.3 * w, yb - 0.85 * ph)]
        add("person", shape, color=tuple(float(c) for c in rng.uniform(20, 230, size=3)))
    # ego vehicle (hood) and rectification border: void, like the bottom of every Cityscapes frame
    eh = H * rng.uniform(0.05, 0.1)
    hood = [(0, H - 1), (0, H - 0.4 * eh)] + \
        [(W * t, H - eh * (0.4 + 0.6 * np.sin(np.pi * t))) for t in np.linspace(0.05, 0.95, 9)] + \
        [(W - 1, H - 0.4 * eh), (W - 1, H - 1)]
    add("ego vehicle", hood)
    bw = max(2.0, W * 0.02)
    add("rectification border", [(0, H - 1), (0, H - 3 * bw), (bw, H - 1)])
    add("rectification border", [(W - 1, H - 1), (W - 1, H - 3 * bw), (W - 1 - bw, H - 1)])
    return objs


_BASE_COLORS = {"sky": (135, 175, 220), "sidewalk": (175, 150, 160), "road": (90, 85, 95),
                "vegetation": (70, 110, 40), "terrain": (140, 170, 90), "pole": (120, 120, 115),
                "traffic sign": (215, 200, 30), "traffic light": (35, 35, 30),
                "wall": (150, 140, 125), "fence": (160, 130, 110), "parking": (150, 120, 120),
                "ground": (110, 90, 80), "static": (60, 80, 60), "ego vehicle": (25, 30, 35),
                "rectification border": (0, 0, 0), "building": (120, 120, 120),
                "car": (60, 60, 60), "person": (100, 60, 60)}


def render_scene(seed, size=(128, 256)):
    """Draw one synthetic street scene.

    Args:
        seed: int or ``np.random.SeedSequence``; the scene is a pure function of it.
        size: ``(H, W)`` in pixels.

    Returns:
        dict with ``image`` (H, W, 3) uint8, ``label_ids`` (H, W) uint8 Cityscapes labelIds,
        ``instance_ids`` (H, W) int32 (``labelId * 1000 + k`` for cars and people, else the
        labelId), ``polygons`` (the Cityscapes JSON dict).

    Raises:
        ValueError: a size smaller than 32x32.

    Example:
        >>> s = render_scene(0, (64, 128))
        >>> s["image"].shape, s["label_ids"].dtype.name, int(s["label_ids"][0, 0])
        ((64, 128, 3), 'uint8', 23)
    """
    from PIL import Image, ImageDraw, ImageFilter

    H, W = (int(v) for v in size)
    if H < 32 or W < 32:
        raise ValueError(f"size must be at least (32, 32) as (H, W), got {tuple(size)}")
    rng = np.random.default_rng(seed)
    objs = _scene_objects(rng, H, W)

    lab = Image.new("L", (W, H), 0)
    inst = Image.new("I", (W, H), 0)
    rgb = Image.new("RGB", (W, H), (0, 0, 0))
    d_lab, d_inst, d_rgb = ImageDraw.Draw(lab), ImageDraw.Draw(inst), ImageDraw.Draw(rgb)
    counters: dict[str, int] = {}
    json_objs = []
    for name, poly, paint in objs:
        lid = _NAME_TO_ID[name]
        pts = [(float(x), float(y)) for x, y in poly]
        d_lab.polygon(pts, fill=lid)
        if name in _INSTANCE_LABELS:
            k = counters.get(name, 0)
            counters[name] = k + 1
            d_inst.polygon(pts, fill=lid * 1000 + k)
        else:
            d_inst.polygon(pts, fill=lid)
        base = np.array(paint.get("color", _BASE_COLORS[name]), dtype=float)
        base = np.clip(base + rng.normal(0, 6, size=3), 0, 255)
        d_rgb.polygon(pts, fill=tuple(int(v) for v in base))
        json_objs.append({"label": name, "polygon": [[x, y] for x, y in poly]})
        # appearance details that do not change the labels (as in a real photo)
        if paint.get("windows"):
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys) - H * 0.05
            step_x, step_y = max(4.0, W * 0.025), max(4.0, H * 0.05)
            dark = tuple(int(v) for v in base * 0.45)
            for wy in np.arange(y0 + step_y * 0.4, y1 - step_y * 0.5, step_y):
                for wx in np.arange(x0 + step_x * 0.3, x1 - step_x * 0.6, step_x):
                    d_rgb.rectangle([wx, wy, wx + step_x * 0.45, wy + step_y * 0.5], fill=dark)
        if "lanes" in paint:
            vx, hy, bl, br = paint["lanes"]
            mx = (bl + br) / 2
            for t0 in np.arange(0.05, 1.0, 0.12):
                t1 = t0 + 0.05
                ya, yb = hy + (H - hy) * t0 ** 1.5, hy + (H - hy) * t1 ** 1.5
                xa, xb = vx + (mx - vx) * (ya - hy) / (H - hy), vx + (mx - vx) * (yb - hy) / (H - hy)
                wa, wb = 0.3 + 2.5 * t0 * W / 512, 0.3 + 2.5 * t1 * W / 512
                d_rgb.polygon([(xa - wa, ya), (xa + wa, ya), (xb + wb, yb), (xb - wb, yb)],
                              fill=(225, 225, 215))
        if "car" in paint:
            x0, yb, cw, ch = paint["car"]
            d_rgb.polygon([(x0 + 0.33 * cw, yb - 0.93 * ch), (x0 + 0.72 * cw, yb - 0.93 * ch),
                           (x0 + 0.8 * cw, yb - 0.62 * ch), (x0 + 0.24 * cw, yb - 0.62 * ch)],
                          fill=(40, 55, 70))
            r = 0.13 * cw
            for cx in (x0 + 0.2 * cw, x0 + 0.8 * cw):
                d_rgb.ellipse([cx - r, yb - r, cx + r, yb + 0.0 * r], fill=(15, 15, 15))
        if paint.get("lamp"):
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            cx, h = (min(xs) + max(xs)) / 2, max(ys) - min(ys)
            for j, c in enumerate([(220, 40, 30), (230, 170, 20), (40, 200, 60)]):
                cy = min(ys) + h * (0.2 + 0.3 * j)
                rr = max(0.5, h * 0.1)
                d_rgb.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=c)

    label_ids = np.asarray(lab, dtype=np.uint8).copy()
    image = np.asarray(rgb, dtype=np.float32).copy()
    # sky gets a vertical gradient; everything gets smooth illumination and a little sensor noise
    yy = np.linspace(0, 1, H, dtype=np.float32)[:, None]
    sky = label_ids == _NAME_TO_ID["sky"]
    image[sky] = image[sky] * (0.8 + 0.35 * np.broadcast_to(yy, (H, W))[sky])[:, None]
    gh, gw = 4, 8
    illum = rng.normal(0, 0.08, size=(gh, gw)).astype(np.float32)
    illum = np.asarray(Image.fromarray(illum, mode="F").resize((W, H), Image.BICUBIC))
    image *= (1.0 + illum)[..., None]
    image += rng.normal(0, 2.0, size=image.shape).astype(np.float32)
    img = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    img = img.filter(ImageFilter.GaussianBlur(radius=max(0.5, W / 1024)))
    return {"image": np.asarray(img), "label_ids": label_ids,
            "instance_ids": np.asarray(inst, dtype=np.int32).copy(),
            "polygons": {"imgHeight": H, "imgWidth": W, "objects": json_objs}}


def _color_image(label_ids: np.ndarray) -> np.ndarray:
    table = np.zeros((256, 3), dtype=np.uint8)
    for lid, col in _ID_TO_COLOR.items():
        table[lid] = col
    return table[label_ids]


def _write_sample(root: Path, split: str, city: str, seq: int, scene: dict) -> Path:
    from PIL import Image

    stem = f"{city}_{seq:06d}_{_FRAME:06d}"
    img_dir = root / "leftImg8bit" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    img_path = img_dir / f"{stem}_leftImg8bit.png"
    Image.fromarray(scene["image"]).save(img_path, optimize=True)
    Image.fromarray(scene["label_ids"]).save(gt_dir / f"{stem}_gtFine_labelIds.png", optimize=True)
    Image.fromarray(LABEL_ID_TO_TRAIN_ID[scene["label_ids"]]).save(
        gt_dir / f"{stem}_gtFine_labelTrainIds.png", optimize=True)
    Image.fromarray(scene["instance_ids"].astype(np.uint16)).save(
        gt_dir / f"{stem}_gtFine_instanceIds.png", optimize=True)
    Image.fromarray(_color_image(scene["label_ids"])).save(gt_dir / f"{stem}_gtFine_color.png",
                                                           optimize=True)
    with open(gt_dir / f"{stem}_gtFine_polygons.json", "w") as fh:
        json.dump(scene["polygons"], fh, indent=1)
    return img_path


def generate_cityscapes_like(root, splits=None, size=(128, 256), seed: int = 0,
                             large_sample: bool = False) -> dict[str, list[Path]]:
    """Write a synthetic dataset in the exact Cityscapes layout (see the module docstring).

    Args:
        root: output folder (created; existing files with the same names are overwritten).
        splits: ``{split: number of images}``; default ``{'train': 4, 'val': 2}``. Images are
            spread over three city folders per split (real Cityscapes city names).
        size: ``(H, W)`` of every image (Cityscapes itself is (1024, 2048)).
        seed: the whole dataset is a pure function of it.
        large_sample: also write one full-size 1024x2048 image (to ``val`` if present, else the
            first split) to exercise sliding-window inference.

    Returns:
        ``{split: [image paths]}``.

    Raises:
        ValueError: bad split counts or size.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = generate_cityscapes_like(d, {"val": 1}, size=(64, 128))
        ...     out["val"][0].name
        'frankfurt_000000_000019_leftImg8bit.png'
    """
    if splits is None:
        splits = {"train": 4, "val": 2}
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"splits must be a non-empty dict {{split: count}}, got {splits!r}")
    for k, n in splits.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"splits[{k!r}] must be a non-negative int, got {n!r}")
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f"size must be (H, W) with both >= 32, got {size!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for split, n in splits.items():
        cities = CITIES.get(split, (f"{split}city",))
        written[split] = []
        for i in range(n):
            ss = np.random.SeedSequence([seed, zlib.crc32(split.encode()), i])
            scene = render_scene(ss, size)
            written[split].append(_write_sample(root, split, cities[i % len(cities)],
                                                i // len(cities), scene))
    if large_sample:
        split = "val" if "val" in splits else next(iter(splits))
        cities = CITIES.get(split, (f"{split}city",))
        ss = np.random.SeedSequence([seed, zlib.crc32(split.encode()), 10 ** 6])
        written[split].append(_write_sample(root, split, cities[0], 999, render_scene(ss, (1024, 2048))))
    return written
