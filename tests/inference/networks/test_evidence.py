"""Stage 2 over forensic hyper-images (:mod:`hyperimage.inference.networks.evidence`): any grid
size, and members that are independent networks averaged."""

import torch

from hyperimage.inference.networks.evidence import EvidenceStage2


def _member(net: EvidenceStage2, k: int) -> EvidenceStage2:
    """Member ``k`` of ``net`` as a network of its own (its slice of every weight)."""
    one = EvidenceStage2(net.body[0].in_channels, net.body[0].out_channels // net.members, net.sharpness)
    width = one.body[0].out_channels
    part = slice(k * width, (k + 1) * width)
    state = {
        "body.0.weight": net.body[0].weight[part], "body.0.bias": net.body[0].bias[part],
        "body.3.weight": net.body[3].weight[part], "body.3.bias": net.body[3].bias[part],
        "cell.weight": net.cell.weight[k : k + 1], "cell.bias": net.cell.bias[k : k + 1], "bias": net.bias[k : k + 1],
    }
    one.load_state_dict(state)
    return one.eval()


def test_members_are_independent_networks_and_the_output_is_their_mean():
    torch.manual_seed(0)
    net = EvidenceStage2(5, width=4, members=3).eval()
    with torch.no_grad():
        net.bias.copy_(torch.tensor([0.3, -0.2, 0.5]))
        hyper = torch.randn(2, 5, 3, 7)
        image, cells = net.member_outputs(hyper)
        mean_image, mean_cells = net.outputs(hyper)
        for k in range(3):
            alone_image, alone_cells = _member(net, k).outputs(hyper)
            torch.testing.assert_close(image[:, k], alone_image)
            torch.testing.assert_close(cells[:, k], alone_cells)
        torch.testing.assert_close(mean_image, image.mean(dim=1))
        torch.testing.assert_close(mean_cells, cells.mean(dim=1))
        torch.testing.assert_close(net(hyper), -mean_image)
    assert image.shape == (2, 3) and cells.shape == (2, 3, 3, 7) and mean_cells.shape == (2, 3, 7)
    assert not torch.allclose(cells[:, 0], cells[:, 1])  # each member its own initialisation


def test_the_image_logit_is_a_smooth_maximum_of_the_cells():
    torch.manual_seed(1)
    net = EvidenceStage2(2, width=4, sharpness=50.0).eval()
    with torch.no_grad():
        image, cells = net.outputs(torch.randn(4, 2, 5, 6))
    torch.testing.assert_close(image, cells.flatten(1).max(dim=1).values, atol=0.1, rtol=0)
