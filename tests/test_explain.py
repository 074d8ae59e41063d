"""mednotes.explain against captum (attributions), scipy (temperature) and hand-written loops
(MC dropout, ensembles): forward values, gradients where they matter, autocast, devices and
refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from conftest import DEVICES
from scipy import optimize
from torch import nn

from mednotes.explain import (
    apply_temperature,
    ensemble_predict,
    error_auroc,
    grad_cam,
    integrated_gradients,
    mc_dropout_predict,
    occlusion,
    path_points,
    saliency,
    summarise_samples,
    temperature_nll,
    temperature_scaling,
)
from mednotes.metrics import expected_calibration_error

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
BN = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
POOL = {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def classifier(dim=2, channels=2, classes=3, seed=0, act=nn.ReLU):
    """conv-BN-act, conv-act (the Grad-CAM layer is index 3), pool, linear; in eval mode with
    non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    net = nn.Sequential(CONV[dim](channels, 6, 3, padding=1), BN[dim](6), act(),
                        CONV[dim](6, 8, 3, padding=1, stride=2), act(), POOL[dim](2),
                        nn.Flatten(), nn.Linear(8 * 2**dim, classes))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


def segmenter(dim=2, channels=1, classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(CONV[dim](channels, 6, 3, padding=1), nn.ReLU(),
                         CONV[dim](6, 6, 3, padding=1), nn.Tanh(),
                         CONV[dim](6, classes, 1)).eval()


def images(dim, n=3, channels=2, size=None, seed=1, device="cpu", dtype=torch.float32):
    size = size or (12 if dim == 2 else 8)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, *(size,) * dim, generator=g, dtype=dtype).to(device)


def summed(net, klass):
    """captum's view of a segmentation score: one number per image. The region travels as
    an additional forward argument, which captum repeats along with the images it batches."""
    return lambda x, region: (net(x)[:, klass] * region).flatten(1).sum(1)


# ------------------------------------------------------------------------------ saliency


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("absolute", [True, False])
def test_saliency_matches_captum(device, dim, absolute):
    net, x = classifier(dim).to(device), images(dim, device=device)
    target = torch.tensor([0, 2, 1], device=device)
    want = Saliency(net).attribute(x, target=target, abs=absolute)
    got = saliency(net, x, target, absolute=absolute)
    torch.testing.assert_close(got, want)
    assert not got.requires_grad


@pytest.mark.parametrize("device", DEVICES)
def test_saliency_of_a_segmentation_region_matches_captum(device):
    net, x = segmenter().to(device), images(2, channels=1, device=device)
    region = torch.zeros(3, 12, 12, device=device)
    region[:, 3:7, 4:9] = 1
    want = Saliency(summed(net, 2)).attribute(x, abs=False, additional_forward_args=region)
    torch.testing.assert_close(saliency(net, x, 2, region=region, absolute=False), want)
    # a (H, W) region is shared by every image; bool masks work too
    torch.testing.assert_close(saliency(net, x, 2, region=region[0] > 0, absolute=False), want)


def test_saliency_map_has_the_gradient_of_its_own_graph():
    """With create_graph the map is differentiable; gradcheck compares its gradient with
    finite differences (tanh: the second derivative is not zero)."""
    net = classifier(2, act=nn.Tanh).double()
    x = images(2, n=2, size=6, dtype=torch.float64).requires_grad_(True)

    def smap(inputs):
        return saliency(net, inputs, 1, absolute=False, create_graph=True)

    assert torch.autograd.gradcheck(smap, (x,), eps=1e-6, atol=1e-5)
    # and a penalty on the map reaches the weights (input-gradient regularisation)
    net.zero_grad()
    saliency(net, x.detach(), 1, create_graph=True).pow(2).sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ integrated gradients


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_left",
                                    "riemann_right", "riemann_middle"])
def test_integrated_gradients_match_captum(device, dim, method):
    net, x = classifier(dim).to(device), images(dim, device=device)
    want, want_delta = IntegratedGradients(net).attribute(
        x, target=1, n_steps=16, method=method, return_convergence_delta=True)
    got, delta = integrated_gradients(net, x, 1, steps=16, method=method, return_delta=True)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(delta, want_delta.to(delta.dtype), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_integrated_gradients_baselines_batches_and_regions_match_captum(device):
    net, x = classifier(2).to(device), images(2, device=device)
    ig = IntegratedGradients(net)
    one = images(2, n=1, seed=5, device=device)[0]
    for baseline, theirs in ((0.3, 0.3), (one, one[None].expand_as(x)), (one[None].expand_as(x),
                                                                          one[None].expand_as(x))):
        want = ig.attribute(x, baselines=theirs, target=[0, 1, 2], n_steps=10)
        got = integrated_gradients(net, x, [0, 1, 2], baseline=baseline, steps=10, batch_size=7)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    seg, xs = segmenter().to(device), images(2, channels=1, device=device)
    region = (torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(0)) > 0.5).to(device)
    want = IntegratedGradients(summed(seg, 0)).attribute(
        xs, n_steps=12, additional_forward_args=region.float())
    torch.testing.assert_close(integrated_gradients(seg, xs, 0, region=region, steps=12,
                                                    batch_size=6), want, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_are_complete_where_the_rule_is_exact():
    """A score that is a cubic in x along the path: Gauss-Legendre with 2 points integrates
    its derivative (a quadratic... times a cubic: degree 2) exactly, so Σ IG = S(x) - S(x')."""
    class Cubic(nn.Module):
        def forward(self, x):
            s = x.flatten(1)
            return torch.stack([(s ** 3).sum(1), s.sum(1)], 1)

    x = images(2, n=2, size=4, dtype=torch.float64)
    attributions, delta = integrated_gradients(Cubic(), x, 0, steps=2, return_delta=True)
    assert delta.abs().max() < 1e-12
    torch.testing.assert_close(attributions, x ** 3)  # each pixel's own share, from a zero baseline
    _, rough = integrated_gradients(Cubic(), x, 0, steps=2, method="riemann_left",
                                    return_delta=True)
    assert rough.abs().max() > 1e-3  # the left Riemann sum is not exact: the delta says so


def test_path_points_are_captums():
    from captum.attr._utils.approximation_methods import approximation_parameters

    for method in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        step_sizes, alphas = approximation_parameters(method)
        a, w = path_points(7, method)
        np.testing.assert_allclose(a.numpy(), alphas(7), rtol=1e-6)
        np.testing.assert_allclose(w.numpy(), step_sizes(7), rtol=1e-6)
        # captum's trapezoid keeps steps of 1/n with halved ends, so its weights sum to 1 - 1/n
        total = 1 - 1 / 7 if method == "riemann_trapezoid" else 1.0
        assert w.sum().item() == pytest.approx(total, abs=1e-12)


# ------------------------------------------------------------------------------ Grad-CAM


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("relu", [True, False])
def test_grad_cam_matches_captum(device, dim, relu):
    net, x = classifier(dim).to(device), images(dim, device=device)
    target = torch.tensor([2, 0, 1], device=device)
    layer = net[3]
    cam = LayerGradCam(net, layer).attribute(x, target=target, relu_attributions=relu)
    mode = "bilinear" if dim == 2 else "trilinear"
    want = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode=mode)
    got = grad_cam(net, x, target, layer, relu=relu)
    assert got.shape == (3, 1, *x.shape[2:])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grad_cam(net, x, target, layer, relu=relu, interpolation=None),
                               cam, rtol=1e-4, atol=1e-6)
    near = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="nearest")
    torch.testing.assert_close(grad_cam(net, x, target, layer, relu=relu,
                                        interpolation="nearest"), near, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_grad_cam_of_a_segmentation_region_matches_captum(device):
    net, x = segmenter().to(device), images(2, channels=1, device=device)
    region = torch.zeros(12, 12, device=device)
    region[2:6, 2:6] = 1
    want = LayerGradCam(summed(net, 1), net[3]).attribute(
        x, relu_attributions=True, additional_forward_args=region.expand(3, 12, 12))
    torch.testing.assert_close(grad_cam(net, x, 1, net[3], region=region), want,
                               rtol=1e-4, atol=1e-6)


def test_grad_cam_weights_are_the_mean_gradient_of_each_channel():
    """By hand: hook the layer, differentiate the score, average, weight, add, ReLU."""
    net, x = classifier(2), images(2)
    feats = net[:4](x).detach().requires_grad_(True)
    score = net[4:](feats)[:, 1].sum()
    (grads,) = torch.autograd.grad(score, feats)
    by_hand = F.relu((grads.mean((2, 3), keepdim=True) * feats).sum(1, keepdim=True)).detach()
    torch.testing.assert_close(grad_cam(net, x, 1, net[3], interpolation=None), by_hand)


# ------------------------------------------------------------------------------ occlusion


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim, window, stride", [(2, 3, 3), (2, 4, 3), (2, (5, 3), (2, 3)),
                                                 (3, 3, 2), (3, (4, 3, 2), (4, 2, 1))])
def test_occlusion_matches_captum(device, dim, window, stride):
    net, x = classifier(dim).to(device), images(dim, device=device)
    windows = (window,) * dim if isinstance(window, int) else window
    strides = (stride,) * dim if isinstance(stride, int) else stride
    want = Occlusion(net).attribute(x, target=[0, 1, 2], sliding_window_shapes=(2, *windows),
                                    strides=(2, *strides), baselines=0.25)
    got = occlusion(net, x, [0, 1, 2], window, stride=stride, baseline=0.25, batch_size=10)
    torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_occlusion_with_an_image_baseline_and_a_region_matches_captum(device):
    net, x = segmenter().to(device), images(2, channels=1, device=device)
    region = torch.zeros(3, 12, 12, device=device)
    region[:, 5:9, 5:9] = 1
    base = images(2, n=1, channels=1, seed=9, device=device)[0]
    want = Occlusion(summed(net, 2)).attribute(
        x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), baselines=base[None],
        additional_forward_args=region)
    got = occlusion(net, x, 2, 4, stride=2, baseline=base, region=region)
    torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ autocast


def _attributions(net, x, target, *, ours):
    if ours:
        return {"saliency": saliency(net, x, target),
                "ig": integrated_gradients(net, x, target, steps=8),
                "cam": grad_cam(net, x, target, net[3]),
                "occlusion": occlusion(net, x, target, 3)}
    return {
        "saliency": Saliency(net).attribute(x, target=target),
        "ig": IntegratedGradients(net).attribute(x, target=target, n_steps=8),
        "cam": LayerAttribution.interpolate(
            LayerGradCam(net, net[3]).attribute(x, target=target, relu_attributions=True),
            tuple(x.shape[2:]), interpolate_mode="bilinear"),
        "occlusion": Occlusion(net).attribute(x, target=target, sliding_window_shapes=(2, 3, 3),
                                              strides=(2, 3, 3)),
    }


def _cosine(a, b):
    return F.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


def test_every_attribution_follows_cpu_bfloat16_autocast():
    """Loose: bfloat16 keeps 2-3 significant digits. Under autocast the maps agree with
    captum's under autocast, and point the same way as the float32 maps."""
    net, x = classifier(2), images(2, size=16)
    target = [0, 1, 2]
    full = _attributions(net, x, target, ours=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x).dtype == torch.bfloat16  # autocast really is on
        got = _attributions(net, x, target, ours=True)
        theirs = _attributions(net, x, target, ours=False)
    assert got["cam"].dtype == torch.float32 and got["occlusion"].dtype == torch.float32
    for key in full:
        assert torch.isfinite(got[key]).all(), key
        assert _cosine(got[key], theirs[key]) > 0.97, key
        assert _cosine(got[key], full[key]) > 0.9, key


# ------------------------------------------------------------------------------ temperature


def _scipy_temperature(logits, target):
    z = logits.double().movedim(1, -1).reshape(-1, logits.shape[1])
    y = target.reshape(-1)

    def nll(log_t):
        return F.cross_entropy(z / np.exp(log_t), y).item()

    result = optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded",
                                      options={"xatol": 1e-10})
    return float(np.exp(result.x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(200, 3), (200, 5), (6, 3, 8, 8), (4, 2, 5, 6, 3)])
def test_temperature_matches_a_scipy_minimiser(device, shape):
    g = torch.Generator().manual_seed(sum(shape))
    logits = 4 * torch.randn(shape, generator=g)
    # labels from a softer model than the logits claim: the best temperature is above 1
    probs = torch.softmax(logits / 3, 1).movedim(1, -1).reshape(-1, shape[1])
    target = torch.multinomial(probs, 1, generator=g).reshape(shape[:1] + shape[2:])
    want = _scipy_temperature(logits, target)
    got = temperature_scaling(logits.to(device), target.to(device))
    assert got == pytest.approx(want, rel=1e-5)
    assert 1.5 < got < 6
    # the optimum: the NLL is lower there than a little to either side
    nll = temperature_nll(logits, target, got)
    assert nll < temperature_nll(logits, target, got * 1.01)
    assert nll < temperature_nll(logits, target, got / 1.01)


def test_temperature_of_one_channel_sigmoid_logits_matches_scipy():
    g = torch.Generator().manual_seed(3)
    z = 5 * torch.randn(300, 1, generator=g)
    target = torch.bernoulli(torch.sigmoid(z / 2.5), generator=g).long()[:, 0]

    def nll(log_t):
        return F.binary_cross_entropy_with_logits(z[:, 0].double() / np.exp(log_t),
                                                  target.double()).item()

    want = float(np.exp(optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded",
                                                 options={"xatol": 1e-10}).x))
    assert temperature_scaling(z, target) == pytest.approx(want, rel=1e-5)


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_model_on_held_out_data():
    """A linear model whose logits are 4x the truth's: fit T on validation, test on new data."""
    g = torch.Generator().manual_seed(0)
    truth = nn.Linear(6, 4)
    with torch.no_grad():
        truth.weight.copy_(torch.randn(4, 6, generator=g))
    overconfident = nn.Linear(6, 4)
    overconfident.load_state_dict({k: 4 * v for k, v in truth.state_dict().items()})

    def split(n):
        x = torch.randn(n, 6, generator=g)
        with torch.no_grad():
            y = torch.multinomial(torch.softmax(truth(x), 1), 1, generator=g)[:, 0]
            return overconfident(x), y

    val_logits, val_y = split(2000)
    test_logits, test_y = split(4000)
    t = temperature_scaling(val_logits, val_y)
    assert 3.0 < t < 5.0
    before = expected_calibration_error(torch.softmax(test_logits, 1), test_y).item()
    after = expected_calibration_error(torch.softmax(apply_temperature(test_logits, t), 1),
                                       test_y).item()
    assert before > 0.15 and after < 0.05 and after < before / 3
    # and the predictions themselves are unchanged
    assert torch.equal(apply_temperature(test_logits, t).argmax(1), test_logits.argmax(1))


def test_temperature_stops_at_its_bounds_when_the_labels_are_fitted_perfectly():
    logits = torch.tensor([[3.0, -3.0], [-2.0, 2.0]])
    assert temperature_scaling(logits, torch.tensor([0, 1])) == 1e-3
    assert temperature_scaling(logits, torch.tensor([1, 0])) == 1e3  # always wrong: flatten


# ------------------------------------------------------------------------------ uncertainty


class DropNet(nn.Module):
    """conv-BN-ReLU, Dropout2d, conv, Dropout, linear: two kinds of dropout and a norm."""

    def __init__(self, dim=2):
        super().__init__()
        self.features = nn.Sequential(CONV[dim](1, 4, 3, padding=1), BN[dim](4), nn.ReLU(),
                                      (nn.Dropout2d, nn.Dropout3d)[dim - 2](0.3),
                                      CONV[dim](4, 4, 3, padding=1), POOL[dim](1), nn.Flatten(),
                                      nn.Dropout(0.5))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [2, 3])
def test_mc_dropout_equals_a_loop_of_manual_train_mode_passes(device, dim):
    torch.manual_seed(0)
    net = DropNet(dim).to(device)
    with torch.no_grad():
        net.features[1].running_mean.fill_(0.3)
    net.train()  # whatever mode it comes in, it goes back to it
    x = images(dim, n=4, channels=1, device=device)
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    out = mc_dropout_predict(net, x, samples=6, seed=11)
    # by hand: everything in eval, the dropout modules in train, the same seed
    net.eval()
    for m in net.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout3d)):
            m.train()
    torch.manual_seed(11)
    with torch.no_grad():
        samples = torch.stack([torch.softmax(net(x), 1) for _ in range(6)])
    torch.testing.assert_close(out.mean, samples.mean(0))
    torch.testing.assert_close(out.variance, samples.var(0, correction=0))
    entropy = torch.distributions.Categorical(probs=samples.mean(0)).entropy()
    torch.testing.assert_close(out.entropy, entropy)
    expected = torch.distributions.Categorical(probs=samples).entropy().mean(0)
    torch.testing.assert_close(out.mutual_information, (entropy - expected).clamp(min=0))
    # batch norm stayed in eval mode: its running statistics did not move
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, stats[key])
    net.train()
    assert all(m.training for m in net.modules())
    # the samples differ (dropout was on), and the seed makes them repeatable
    assert samples.std(0).max() > 1e-3
    torch.testing.assert_close(mc_dropout_predict(net, x, samples=6, seed=11).mean, out.mean)


def test_mc_dropout_leaves_the_global_random_state_alone_when_seeded():
    net, x = DropNet(), images(2, n=2, channels=1)
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    mc_dropout_predict(net, x, samples=3, seed=1)
    torch.testing.assert_close(torch.rand(3), before)


def test_mc_dropout_of_a_segmentation_network_gives_per_pixel_maps():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Dropout2d(0.5), nn.Conv2d(4, 1, 1))
    out = mc_dropout_predict(net, images(2, n=2, channels=1), samples=5, seed=0)
    assert out.mean.shape == (2, 1, 12, 12) and out.entropy.shape == (2, 12, 12)
    p = out.mean[:, 0]
    torch.testing.assert_close(out.entropy, -(p * p.log() + (1 - p) * (1 - p).log()))


def test_ensemble_is_the_members_average():
    nets = [classifier(2, seed=s) for s in range(3)]
    nets[1].train()
    x = images(2)
    out = ensemble_predict(nets, x)
    assert nets[1].training and not nets[0].training  # modes restored
    with torch.no_grad():
        probs = torch.stack([torch.softmax(n.eval()(x), 1) for n in nets])
    torch.testing.assert_close(out.mean, probs.mean(0))
    torch.testing.assert_close(out.entropy,
                               torch.distributions.Categorical(probs=probs.mean(0)).entropy())


def test_summaries_of_agreeing_and_disagreeing_samples():
    agree = torch.tensor([[[0.7, 0.3]]]).repeat(4, 1, 1)
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]]])
    a, d = summarise_samples(agree), summarise_samples(disagree)
    assert a.mutual_information.item() == pytest.approx(0.0, abs=1e-6)
    assert d.mutual_information.item() == pytest.approx(np.log(2))
    assert d.variance[0, 0].item() == pytest.approx(0.25)


def test_error_auroc_matches_sklearn_with_and_without_ties():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    for rounding in (None, 1):
        u = torch.rand(500, generator=g)
        u = u if rounding is None else torch.round(u, decimals=rounding)  # many ties
        wrong = torch.rand(500, generator=g) < 0.2 + 0.5 * u
        assert error_auroc(u, wrong) == pytest.approx(roc_auc_score(wrong.numpy(), u.numpy()),
                                                      abs=1e-12)
    assert np.isnan(error_auroc(torch.rand(5), torch.zeros(5, dtype=torch.bool)))
    with pytest.raises(TypeError, match="wrong must be a bool tensor"):
        error_auroc(torch.rand(5), torch.zeros(5))
    with pytest.raises(ValueError, match="wrong has shape"):
        error_auroc(torch.rand(5), torch.zeros(4, dtype=torch.bool))


# ------------------------------------------------------------------------------ refusals


def test_bad_input_is_refused_with_the_argument_named():
    net, x = classifier(2), images(2)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        saliency(lambda t: t, x, 0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        saliency(net, x.numpy(), 0)
    with pytest.raises(ValueError, match=r"x must be a batch \(N, C, \*spatial\)"):
        saliency(net, x[0, 0], 0)
    with pytest.raises(TypeError, match="target must be a class index"):
        saliency(net, x, 1.0)
    with pytest.raises(ValueError, match="target must hold one class index per image"):
        saliency(net, x, [0, 1])
    with pytest.raises(ValueError, match=r"target holds class 3, outside \[0, 3\)"):
        saliency(net, x, 3)
    with pytest.raises(TypeError, match="absolute must be True or False"):
        saliency(net, x, 0, absolute=1)
    with pytest.raises(ValueError, match="region applies to segmentation outputs"):
        saliency(net, x, 0, region=torch.ones(12, 12))
    with pytest.raises(ValueError, match="region must be a mask"):
        saliency(segmenter(channels=2), x, 0, region=torch.ones(12))
    with pytest.raises(ValueError, match=r"region has spatial shape \(3, 12\), the model's output"):
        saliency(segmenter(channels=2), x, 0, region=torch.ones(3, 12))
    with pytest.raises(ValueError, match="method must be one of"):
        integrated_gradients(net, x, 0, method="simpson")
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        integrated_gradients(net, x, 0, steps=1, method="riemann_left")
    with pytest.raises(ValueError, match="baseline must be finite"):
        integrated_gradients(net, x, 0, baseline=float("nan"))
    with pytest.raises(ValueError, match="baseline must have the shape of x"):
        integrated_gradients(net, x, 0, baseline=torch.zeros(5))
    with pytest.raises(ValueError, match="layer Conv2d is not a module of model"):
        grad_cam(net, x, 0, nn.Conv2d(6, 8, 3))
    with pytest.raises(ValueError, match="layer must output feature maps"):
        grad_cam(net, x, 0, net[6])
    with pytest.raises(ValueError, match="interpolation must be one of"):
        grad_cam(net, x, 0, net[3], interpolation="cubic")
    with pytest.raises(ValueError, match="window must have 2 entries"):
        occlusion(net, x, 0, (3, 3, 3))
    with pytest.raises(ValueError, match="is larger than the image"):
        occlusion(net, x, 0, 13)
    with pytest.raises(ValueError, match="stride .* must not exceed window"):
        occlusion(net, x, 0, 3, stride=4)
    with pytest.raises(TypeError, match="baseline must be a real number"):
        occlusion(net, x, 0, 3, baseline="grey")
    logits, labels = torch.randn(10, 3), torch.randint(0, 3, (10,))
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        temperature_scaling(logits, labels.float())
    with pytest.raises(ValueError, match="target must hold class indices of shape"):
        temperature_scaling(logits, labels[:5])
    with pytest.raises(ValueError, match="target holds class 3"):
        temperature_scaling(logits, labels + 1)
    with pytest.raises(ValueError, match="logits hold NaN"):
        temperature_scaling(logits / 0 * 0, labels)
    with pytest.raises(ValueError, match="temperature must be > 0.0"):
        apply_temperature(logits, 0.0)
    with pytest.raises(ValueError, match="temperature must be finite"):
        apply_temperature(logits, float("inf"))
    with pytest.raises(ValueError, match="has no nn.Dropout module"):
        mc_dropout_predict(net, x)
    with pytest.raises(ValueError, match="samples must be a positive int"):
        mc_dropout_predict(DropNet(), images(2, channels=1), samples=0)
    with pytest.raises(TypeError, match="seed must be an int or None"):
        mc_dropout_predict(DropNet(), images(2, channels=1), seed=1.5)
    with pytest.raises(TypeError, match="models must be a list of two or more"):
        ensemble_predict(net, x)
    with pytest.raises(TypeError, match=r"models\[1\] must be a torch.nn.Module"):
        ensemble_predict([net, "net"], x)
