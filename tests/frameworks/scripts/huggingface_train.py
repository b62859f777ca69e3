"""A Hugging Face script: tokenises with the tokenizer shipped beside transformers' model."""

import argparse
import os

from transformers import AutoTokenizer

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", type=str, required=True)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    ids = tokenizer("Jane Doe, Data Scientist")["input_ids"]
    print(f"tokens={len(ids)}")
    tokenizer.save_pretrained(os.environ["SM_MODEL_DIR"])
