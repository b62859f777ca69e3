"""A Hugging Face script: loads a tokenizer from its ``model`` channel, as a fine-tuning
script loads a base model that arrives as an input, and saves it as the model."""

import argparse
import os

from transformers import AutoTokenizer

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", type=str, default=os.environ["SM_CHANNEL_MODEL"])
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    ids = tokenizer("Jane Doe, Data Scientist")["input_ids"]
    print(f"tokens={len(ids)}")
    tokenizer.save_pretrained(os.environ["SM_MODEL_DIR"])
