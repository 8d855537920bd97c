"""Small models for the universality tests: a net, an exact channel-permuted copy of it
(the same features under other unit indices), and an unrelated architecture."""
from __future__ import annotations

import pytest
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, c1: int = 4, c2: int = 6):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c2, 3)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


def hooked(net: nn.Module, name: str, input_size: int = 16):
    from visioncircuits.hooks import HookedModel

    return HookedModel.wrap(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), input_size=input_size, name=name,
                            main_layers=("relu1", "relu2"))


def permuted_copy(net: Net, p1: torch.Tensor, p2: torch.Tensor) -> Net:
    """The same function with relu1 channels reordered by p1 and relu2 channels by p2."""
    new = Net(net.conv1.out_channels, net.conv2.out_channels)
    with torch.no_grad():
        new.conv1.weight.copy_(net.conv1.weight[p1])
        new.conv1.bias.copy_(net.conv1.bias[p1])
        new.conv2.weight.copy_(net.conv2.weight[p2][:, p1])
        new.conv2.bias.copy_(net.conv2.bias[p2])
        new.fc.weight.copy_(net.fc.weight[:, p2])
        new.fc.bias.copy_(net.fc.bias)
    return new


@pytest.fixture
def model_pair():
    """(A, B = A with permuted channels, p1, p2, C = unrelated random net of another width)."""
    torch.manual_seed(0)
    a = Net()
    p1, p2 = torch.tensor([2, 0, 3, 1]), torch.tensor([5, 3, 0, 1, 4, 2])
    b = permuted_copy(a, p1, p2)
    torch.manual_seed(1)
    c = Net(5, 7)
    return hooked(a, "net-a"), hooked(b, "net-b"), p1, p2, hooked(c, "net-c", input_size=20)
