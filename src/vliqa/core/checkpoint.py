"""The names of a checkpoint folder's files: weights, config and model card (read by `vliqa.io.checkpoint`, written by
`vliqa.models`)."""

WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "MODEL_CARD.md"
