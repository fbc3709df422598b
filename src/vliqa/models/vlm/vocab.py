"""The VLM's token vocabulary: image tags, slot tokens, and a byte-level BPE tokenizer trained on our text.

Images enter the text as DepictQA does: a tag pair per image (`<Image-A>...</Image-A>`, `<Image-B>`,
`<Reference>`) around `<img>` placeholders that the model replaces with the image's projected tokens.
Answers open with slots: `<lv>` and one level token per aspect and the overall verdict (`<bad>` ...
`<excellent>`), and for a pair `<pref>` with `<A>`, `<B>` or `<tie>`. A slot is a softmax over its few
tokens only; the text after it is decoded conditioned on the value written there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vliqa.core import ASPECTS, LEVEL_NAMES
from vliqa.errors import CorruptFileError, InputNotFoundError

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
IMG = "<img>"
QUESTION, ANSWER = "<q>", "<a>"
LEVELS_OPEN, LEVELS_CLOSE = "<lv>", "</lv>"
PREF_OPEN, PREF_CLOSE = "<pref>", "</pref>"
#: image roles in the order their tokens enter the sequence, with their tags
ROLES = ("reference", "A", "B")
TAGS = {"A": ("<Image-A>", "</Image-A>"), "B": ("<Image-B>", "</Image-B>"),
        "reference": ("<Reference>", "</Reference>")}
#: one slot token per level word, in level order 0..4
LEVEL_TOKENS = tuple(f"<{LEVEL_NAMES[k]}>" for k in range(5))
PREF_VALUES = ("A", "B", "tie")
PREF_TOKENS = tuple(f"<{v}>" for v in PREF_VALUES)
#: what the level slots of one image hold, in order
SLOT_ORDER = (*ASPECTS, "overall")
SPECIAL_TOKENS = (PAD, EOS, UNK, IMG, QUESTION, ANSWER, LEVELS_OPEN, LEVELS_CLOSE, PREF_OPEN, PREF_CLOSE,
                  *(t for pair in TAGS.values() for t in pair), *LEVEL_TOKENS, *PREF_TOKENS)
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> Tokenizer:
    """Gives a byte-level BPE tokenizer trained on `texts`, with every special token of the VLM."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """Gives the tokenizer saved in a VLM checkpoint folder."""
    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        raise InputNotFoundError(f"no {TOKENIZER_FILE} in {folder}", path=str(folder),
                                 hint="a VLM checkpoint folder holds tokenizer.json beside model.safetensors; "
                                      "rebuild it with `make train-vlm`")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises bare Exceptions on malformed JSON
        raise CorruptFileError(f"cannot read the tokenizer: {exc}", path=str(path),
                               hint="restore the checkpoint folder or retrain it with `make train-vlm`") from exc
    missing = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
    if missing:
        raise CorruptFileError(f"the tokenizer lacks the VLM tokens {missing}", path=str(path),
                               hint="the checkpoint was made by another vliqa version; retrain with `make train-vlm`")
    return tok


def token_id(tok: Tokenizer, token: str) -> int:
    """Gives the id of a special token."""
    value = tok.token_to_id(token)
    if value is None:
        raise CorruptFileError(f"the tokenizer has no '{token}' token", hint="retrain with `make train-vlm`")
    return int(value)
