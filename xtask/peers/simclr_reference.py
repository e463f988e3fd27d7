#!/usr/bin/env python3
"""SimCLR in plain PyTorch, with a `simclr train` run's own recipe: the reference that our
accuracy is compared with (docs/results.md, "Matched-recipe reference").

It reads the resolved `config.json` that `train-app simclr train` writes into its run folder, so
both sides train the same network (ResNet with the CIFAR or ImageNet stem and the same width,
Linear-ReLU-Linear head), on the same images (`labels.csv` folder), with the same torchvision
augmentations (RandomResizedCrop, flip, colour jitter of strength s with probability p,
grayscale, optional blur), NT-Xent at the same temperature, the same optimizer (Adam or SGD with
momentum; Burn's Adam epsilon, 1e-5), batch size, learning rate (base x B/256), linear warm-up
and per-step cosine decay, and epochs. It then evaluates the trained encoder and the same
network at random initialisation with the protocol of `simclr eval`: features `h` of the
un-augmented images, a linear probe (features standardised with the train split's statistics,
softmax classifier, AdamW at 0.01 with weight decay 1e-4, 500 full-batch steps) and the
weighted k-NN rule (cosine, the config's `knn_k` neighbours, votes exp(cos / 0.1)).

    pip install torch torchvision pillow
    python xtask/peers/simclr_reference.py --config RUN/config.json --data DATA [--threads 2]

The last line printed is a JSON summary shaped like `simclr train`'s.
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image


def read_split(data: Path, split: str):
    """Images and labels of one split of a `labels.csv` folder (path,label[,class_name],split)."""
    lines = (data / "labels.csv").read_text(encoding="utf-8-sig").splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    column = {name: header.index(name) for name in ("path", "label", "split")}
    images, labels = [], []
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split(",")
        if fields[column["split"]].strip() != split:
            continue
        with Image.open(data / fields[column["path"]]) as image:
            images.append(image.convert("RGB"))
        labels.append(int(fields[column["label"]]))
    return images, torch.tensor(labels)


class Views(torch.utils.data.Dataset):
    """Two augmented views of every image."""

    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.transform(self.images[i])


def augmentation(a: dict) -> T.Compose:
    s = a["jitter_strength"]
    steps = []
    if a["crop"]:
        steps.append(
            T.RandomResizedCrop(a["size"], scale=tuple(a["crop_scale"]), ratio=tuple(a["crop_ratio"]))
        )
    else:
        steps.append(T.Resize((a["size"], a["size"])))
    if a["flip"]:
        steps.append(T.RandomHorizontalFlip())
    if a["color_jitter"]:
        jitter = T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, min(0.2 * s, 0.5))
        steps.append(T.RandomApply([jitter], p=a["jitter_probability"]))
    if a["grayscale"]:
        steps.append(T.RandomGrayscale(p=a["grayscale_probability"]))
    if a["blur"]:
        kernel = max(3, (a["size"] // 10) | 1)
        steps.append(T.RandomApply([T.GaussianBlur(kernel, (0.1, 2.0))], p=a["blur_probability"]))
    return T.Compose(steps + [T.ToTensor(), T.Normalize(a["mean"], a["std"])])


def eval_transform(a: dict) -> T.Compose:
    return T.Compose([T.Resize((a["size"], a["size"])), T.ToTensor(), T.Normalize(a["mean"], a["std"])])


def conv_bn(cin, cout, kernel, stride):
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(conv, nn.BatchNorm2d(cout))


class Block(nn.Module):
    """relu(F(x) + shortcut(x)), basic (two 3x3) or bottleneck (1x1, 3x3, 1x1, expansion 4)."""

    def __init__(self, cin, width, stride, bottleneck):
        super().__init__()
        if bottleneck:
            cout = 4 * width
            self.layers = nn.ModuleList(
                [conv_bn(cin, width, 1, 1), conv_bn(width, width, 3, stride), conv_bn(width, cout, 1, 1)]
            )
        else:
            cout = width
            self.layers = nn.ModuleList([conv_bn(cin, width, 3, stride), conv_bn(width, width, 3, 1)])
        self.shortcut = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        y = x
        for i, layer in enumerate(self.layers):
            y = layer(y)
            if i + 1 < len(self.layers):
                y = F.relu(y)
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    BLOCKS = {18: ([2, 2, 2, 2], False), 34: ([3, 4, 6, 3], False), 50: ([3, 4, 6, 3], True)}

    def __init__(self, e: dict):
        super().__init__()
        counts, bottleneck = self.BLOCKS[e["depth"]]
        base = max(1, round(64 * e["width_multiplier"]))
        if e["stem"] == "Cifar":
            self.stem = nn.Sequential(conv_bn(e["in_channels"], base, 3, 1), nn.ReLU())
        else:
            self.stem = nn.Sequential(conv_bn(e["in_channels"], base, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], base
        for index, count in enumerate(counts[: e["stages"]]):
            width = base << index
            for b in range(count):
                blocks.append(Block(cin, width, 2 if index > 0 and b == 0 else 1, bottleneck))
                cin = width * (4 if bottleneck else 1)
        self.blocks = nn.Sequential(*blocks)
        self.output_dim = cin

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class SimCLR(nn.Module):
    def __init__(self, m: dict):
        super().__init__()
        self.encoder = ResNet(m["encoder"])
        d = self.encoder.output_dim
        hidden = m["head_hidden_dim"] or d
        norm = [nn.BatchNorm1d(hidden)] if m["head_batch_norm"] else []
        self.head = nn.Sequential(
            nn.Linear(d, hidden, bias=not m["head_batch_norm"]), *norm, nn.ReLU(), nn.Linear(hidden, m["projection_dim"])
        )

    def forward(self, x):
        return self.head(self.encoder(x))


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Both views in one [2N, d] batch, view 1 then view 2; each row's positive is its twin."""
    n = z.shape[0] // 2
    z = F.normalize(z, dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


def schedule(peak: float, total: int, warmup: int):
    """Linear warm-up to `peak`, then cosine decay to 0, per step (as WarmupSchedule)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def features(encoder: ResNet, images, transform, batch=256) -> torch.Tensor:
    encoder.eval()
    out = [
        encoder(torch.stack([transform(im) for im in images[i : i + batch]]))
        for i in range(0, len(images), batch)
    ]
    return torch.cat(out)


def linear_probe(train, y_train, test, y_test, classes, steps=500, lr=0.01, weight_decay=1e-4):
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    train, test = (train - mean) / std, (test - mean) / std
    classifier = nn.Linear(train.shape[1], classes)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=weight_decay, eps=1e-5)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(classifier(train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        return {
            "train_accuracy": (classifier(train).argmax(1) == y_train).float().mean().item(),
            "test_accuracy": (classifier(test).argmax(1) == y_test).float().mean().item(),
        }


def knn_top1(train, y_train, test, y_test, classes, k=200, temperature=0.1):
    similarity = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    top, index = similarity.topk(min(k, train.shape[0]), dim=1)
    votes = torch.zeros(test.shape[0], classes, dtype=torch.float64)
    votes.scatter_add_(1, y_train[index], (top.double() / temperature).exp())
    return (votes.argmax(1) == y_test).float().mean().item()


def evaluate(encoder, train_images, y_train, test_images, y_test, transform, k):
    classes = int(max(y_train.max(), y_test.max())) + 1
    train, test = features(encoder, train_images, transform), features(encoder, test_images, transform)
    return {
        "linear": linear_probe(train, y_train, test, y_test, classes),
        "knn_top1": knn_top1(train, y_train, test, y_test, classes, k),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="a `simclr train` run's config.json")
    parser.add_argument("--data", type=Path, required=True, help="folder with labels.csv")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    if args.epochs:
        config["epochs"] = args.epochs
    torch.set_num_threads(args.threads)
    torch.manual_seed(config["seed"])

    train_images, y_train = read_split(args.data, "train")
    test_images, y_test = read_split(args.data, "test")
    a = config["augment"]
    loader = torch.utils.data.DataLoader(
        Views(train_images, augmentation(a)),
        batch_size=config["batch_size"],
        shuffle=True,
        num_workers=config["num_workers"],
        persistent_workers=config["num_workers"] > 0,
    )
    model = SimCLR(config["model"])
    random_init = SimCLR(config["model"])
    random_init.load_state_dict(model.state_dict())

    lr = config["base_learning_rate"] * config["batch_size"] / 256
    if config["optimizer"] == "Adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=config["weight_decay"], eps=1e-5)
    elif config["optimizer"] == "Sgd":
        optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=config["momentum"], weight_decay=config["weight_decay"]
        )
    else:
        raise SystemExit(f"{args.config}: optimizer {config['optimizer']} has no reference here (Adam or Sgd)")
    steps_per_epoch = len(loader)
    total = steps_per_epoch * config["epochs"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, schedule(lr, total, steps_per_epoch * config["warmup_epochs"])
    )

    started = time.perf_counter()
    for epoch in range(config["epochs"]):
        model.train()
        losses = []
        for x1, x2 in loader:
            loss = nt_xent(model(torch.cat([x1, x2])), config["model"]["temperature"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        print(json.dumps({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "seconds": time.perf_counter() - started}), flush=True)
    train_seconds = time.perf_counter() - started

    transform = eval_transform(a)
    k = config.get("knn_k", 200)
    summary = {
        "task": "simclr.reference",
        "torch": torch.__version__,
        "threads": args.threads,
        "epochs": config["epochs"],
        "steps": total,
        "train_seconds": train_seconds,
        "views_per_second": 2 * len(train_images) * config["epochs"] / train_seconds,
        "trained": evaluate(model.encoder, train_images, y_train, test_images, y_test, transform, k),
        "random_init": evaluate(random_init.encoder, train_images, y_train, test_images, y_test, transform, k),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
