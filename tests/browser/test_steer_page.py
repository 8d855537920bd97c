"""The steering page loads from file:// with no errors, shows its images and curves, and escapes names."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncircuits.cli import main
from visioncircuits.hooks import HookedModel
from visioncircuits.interventions.steering import steering_sweep
from visioncircuits.interventions.steering_page import write_steering_page

pytestmark = pytest.mark.browser


def test_cli_steer_page_loads_clean(tmp_path, open_page):
    out = tmp_path / "s"
    assert main(["steer", "toy-vgg-s0", "relu3:12", "--alpha", "0.5", "2", "--toyworld", "--n", "8",
                 "--show", "6", "--out", str(out)]) == 0
    page, rep = open_page(out / "steer.html", "steer.png")
    assert rep.console_errors == [] and rep.page_errors == [] and rep.failed_requests == []
    assert rep.image_count == 6 and rep.broken_images == []
    assert page.locator("#dose-response polyline").count() >= 2
    assert "Steering relu3:12" in page.inner_text("h1")
    assert rep.screenshot is not None and rep.screenshot.stat().st_size > 5000


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 2, 1), nn.ReLU()
        self.pool, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


def test_hostile_class_names_are_escaped(tmp_path, open_page):
    hostile = '<img src=x onerror="document.title=\'pwned\'">'
    torch.manual_seed(0)
    model = HookedModel.wrap(Tiny(), input_size=8, name="tiny", class_names=[hostile, "b"])
    images = torch.rand(3, 3, 8, 8)
    res = steering_sweep(model, "relu:0", [1.0, 4.0], images, scale="raw", image_ids=[hostile] * 3)
    path = write_steering_page(tmp_path / "steer.html", res, images, show=3)
    page, rep = open_page(path)
    assert rep.console_errors == [] and rep.page_errors == []
    assert page.title() != "pwned"
    assert rep.image_count == 3  # the three thumbnails; the hostile <img> stayed text
    assert hostile in page.inner_text("body")
