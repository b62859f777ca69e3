"""A PyTorch script-mode script: fits y = 2x + 1, saves a state dict, and serves it."""

import argparse
import json
import os

import torch


class Line(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(1, 1)

    def forward(self, x):
        return self.fc(x)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 2 * x + 1
    model = Line()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    for _ in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    print(f"loss={loss.item():.6f} hosts={os.environ['SM_HOSTS']}")
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))


def model_fn(model_dir):
    model = Line()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()


def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    return torch.tensor(json.loads(body), dtype=torch.float32).reshape(-1, 1)
