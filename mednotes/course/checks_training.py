"""Checks for the training chapter's practice: one small end-to-end segmentation.

Used by ``exercises/15_training_loop.ipynb``; the chapter is ``book/principles/07_training``.
The student writes an epoch of the training loop and the validation Dice, then trains a small
U-Net on brain-lesion patches. Three checks:

- ``train_one_epoch``: their epoch, run on the check's own tiny network and batches (the
  network handed over in evaluation mode), must give the reference's losses step by step; a
  forgotten ``zero_grad`` or ``model.train()`` changes them, a loss on the argmax cannot
  backpropagate at all.
- ``mean_dice``: their validation Dice, on the check's own network (in training mode) and
  images (some without lesion), must be the reference's: per image, NaN without a lesion,
  in evaluation mode.
- ``lesion_segmenter``: the held-out Dice of their trained network, computed by
  :func:`held_out_dice` on images that the check makes itself (never the student's), must
  reach :data:`THRESHOLD`.

Every reference is the library's: :func:`mednotes.metrics.dice_score` and torch's own
optimizer; nothing is written down by hand.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined

#: The side of the practice's images, and the lesions of its training and held-out images.
SIZE = 48
TRAIN_LESIONS = {"prevalence": 0.04, "max_lesions": 2, "empty_fraction": 0.0}
HELD_OUT_LESIONS = {"prevalence": 0.03, "max_lesions": 2, "empty_fraction": 0.2}
HELD_OUT_SEED = 2_027  # far from any seed the practice trains with
HELD_OUT_IMAGES = 48

#: The held-out Dice a trained network must reach. The practice's reference solution (Adam at
#: 3e-3, cosine decay, 6 epochs of 2 x 12 steps) scored 0.722, 0.779 and 0.757 with seeds 0, 1
#: and 2 (0.75 ± 0.03), measured on a loaded 2-core CPU in 30-53 s of training each.
THRESHOLD = 0.6

# ------------------------------------------------------------------------ the references


def reference_epoch(model, optimizer, loss_fn, batches) -> list[float]:
    """One epoch of training: per batch, zero the gradients, forward, loss, backward, step.

    Returns the loss of each batch, as floats (before that batch's step).
    """
    model.train()
    losses = []
    for images, masks in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def per_image_dice(model, images, masks) -> torch.Tensor:
    """Per image, the Dice of the predicted lesion mask (argmax), NaN without a lesion:
    :func:`mednotes.metrics.dice_score` in evaluation mode. The model's mode is restored."""
    from mednotes.metrics import dice_score

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pred = model(images).argmax(1)
    finally:
        model.train(was_training)
    return dice_score(pred, masks, include_background=False, num_classes=2)[:, 0]


def reference_mean_dice(model, images, masks) -> float:
    """The mean over the images with a lesion of :func:`per_image_dice`."""
    return per_image_dice(model, images, masks).nanmean().item()


def held_out_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The check's own held-out images and masks: ``HELD_OUT_IMAGES`` brain-lesion slices of
    ``SIZE`` pixels, drawn as the task is (some without lesion), from ``HELD_OUT_SEED``."""
    from mednotes.data import brain_lesions

    data = brain_lesions(HELD_OUT_IMAGES, size=SIZE, seed=HELD_OUT_SEED, **HELD_OUT_LESIONS)
    images, masks = zip(*(data[i] for i in range(len(data))))
    return torch.stack(images), torch.stack(masks)


def held_out_dice(model: torch.nn.Module) -> float:
    """The Dice of ``model`` on the check's held-out images (not the student's data): the
    mean over the slices with a lesion of each slice's Dice, in evaluation mode.

    This is the number the ``lesion_segmenter`` check judges.
    """
    if not isinstance(model, torch.nn.Module):
        from mednotes._checks import describe

        raise TypeError(f"model must be the trained network (a torch.nn.Module), got "
                        f"{describe(model)}")
    images, masks = held_out_images()
    device = next(model.parameters()).device
    return reference_mean_dice(model, images.to(device), masks.to(device))


# ------------------------------------------------------------------------ test inputs


def _tiny_unet(seed: int):
    from mednotes.nets import UNet

    torch.manual_seed(seed)
    return UNet(1, 2, dim=2, base_channels=2, depth=1)


def _batches(seed: int, count: int, n: int = 4, side: int = 8):
    """Random images with a bright square lesion in most of them."""
    g = torch.Generator().manual_seed(seed)
    images = 0.1 * torch.randn(count * n, 1, side, side, generator=g)
    masks = torch.zeros(count * n, side, side, dtype=torch.long)
    for i in range(count * n):
        if i % 4 != 3:  # every fourth image has no lesion
            r, c = torch.randint(side - 3, (2,), generator=g).tolist()
            masks[i, r:r + 3, c:c + 3] = 1
    images = images + masks[:, None].float()
    return list(zip(images.split(n), masks.split(n)))


def _epoch_cases() -> tuple[tuple, ...]:
    """(model in eval mode, Adam, Dice + CE, batches): three and five batches."""
    from mednotes.losses import DiceCELoss

    cases = []
    for seed, count in ((0, 3), (1, 5)):
        model = _tiny_unet(seed).eval()  # handed over in eval mode: the epoch must switch
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        cases.append((model, optimizer, DiceCELoss(include_background=False),
                      _batches(seed, count)))
    return tuple(cases)


def _thresholding_net(cut: float) -> torch.nn.Module:
    """A network whose lesion logit is ``image - cut`` in evaluation mode (batch norm with
    running mean 0 and variance 1); in training mode batch norm would rescale it."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[1, 0, 1, 1] = 1.0
        net[0].bias.copy_(torch.tensor([0.0, -cut]))
    return net.train()


def _dice_cases() -> tuple[tuple, ...]:
    """(a network in training mode, noisy images, masks): some images without lesion, the
    others segmented imperfectly, so that every shortcut changes the mean."""
    cases = []
    for seed, cut, noise in ((2, 0.5, 0.3), (3, 0.6, 0.35)):
        (images, masks), = _batches(seed, 1, n=8, side=12)
        g = torch.Generator().manual_seed(seed)
        images = masks[:, None].float() + noise * torch.randn(images.shape, generator=g)
        cases.append((_thresholding_net(cut), images, masks))
    return tuple(cases)


# ------------------------------------------------------------------------ checks


#: The first hint of each check: the idea, before the step.
IDEAS = {
    "train_one_epoch": (
        "Each batch is one step of gradient descent: the gradients of this batch's loss, "
        "and nothing else, move the weights."
    ),
    "mean_dice": (
        "Validation measures the network as it will be used: no dropout or batch "
        "statistics, and images without a lesion have no Dice to average."
    ),
    "lesion_segmenter": (
        "The check measures your trained network on images it has never seen; a network "
        "that trains well reaches the threshold in the practice's budget."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "train_one_epoch": ("the three-batch case", "the five-batch case"),
    "mean_dice": ("the first validation set", "the second validation set"),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({
        "train_one_epoch": Check(
            reference=reference_epoch, cases=_epoch_cases(), rtol=1e-4, atol=1e-6,
            hint="Put the model in training mode first; then, per batch: "
                 "optimizer.zero_grad(), the loss of model(images) against masks (the "
                 "logits, not their argmax), loss.backward(), optimizer.step(), and keep "
                 "loss.item()."),
        "mean_dice": Check(
            reference=reference_mean_dice, cases=_dice_cases(), rtol=1e-5, atol=1e-6,
            hint="model.eval() and torch.no_grad(); the prediction is model(images).argmax(1); "
                 "dice_score(pred, masks, include_background=False, num_classes=2)[:, 0] "
                 "gives one Dice per image, NaN without a lesion: average with nanmean, "
                 "on the images you are given."),
        "lesion_segmenter": Check(
            reference=lambda: 1.0, at_least=THRESHOLD,
            hint=f"The held-out Dice must reach {THRESHOLD}. Check that the loss falls "
                 "epoch after epoch; if it does not, check train_one_epoch and the "
                 "learning rate; if it does, train for the number of epochs the practice "
                 "gives."),
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "HELD_OUT_LESIONS", "IDEAS", "SIZE", "THRESHOLD", "TRAIN_LESIONS",
           "checks", "held_out_dice", "held_out_images", "per_image_dice",
           "reference_epoch", "reference_mean_dice"]
