"""A Hugging Face fine-tuning script in the shape of AWS's examples: the base model's files
arrive as the ``model`` channel, hyperparameters as arguments, and the trained model and
tokenizer are saved to ``SM_MODEL_DIR`` for the inference container's pipeline.

The classifier is deliberately tiny (one layer, 32 wide, over the base model's tokenizer) so
the job takes seconds on a CPU; the shape of the code is a real fine-tuning loop's.
"""

import argparse
import os

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

TRAIN = [
    ("a wonderful, moving film", 1),
    ("great acting and a great story", 1),
    ("I loved every minute", 1),
    ("brilliant and funny", 1),
    ("a dull, boring mess", 0),
    ("terrible acting and a weak story", 0),
    ("I hated every minute", 0),
    ("tedious and far too long", 0),
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--model_name_or_path", type=str, default=os.environ["SM_CHANNEL_MODEL"])
    args = parser.parse_args()

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model = BertForSequenceClassification(config)
    batch = tokenizer([t for t, _ in TRAIN], padding=True, return_tensors="pt")
    labels = torch.tensor([y for _, y in TRAIN])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    model.train()
    for _ in range(args.epochs):
        optimizer.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(**batch).logits.argmax(-1) == labels).float().mean().item()
    print(f"tokens={batch['input_ids'].shape[1]} loss={loss.item():.4f} accuracy={accuracy:.2f}")
    model.save_pretrained(os.environ["SM_MODEL_DIR"])
    tokenizer.save_pretrained(os.environ["SM_MODEL_DIR"])
