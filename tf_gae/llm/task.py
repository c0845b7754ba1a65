"""A verifiable-reward task for a toy language model: two-number addition, generated in code.

The model reads a prompt such as "07+35=" and must write the sum "42" followed by an end-of-sequence
token. The reward is checkable exactly (RLHF with a programmatic verifier instead of a learned reward
model), so a run can report the true accuracy of its policy at any time.

Vocabulary (14 tokens; the ids are fixed, `VOCAB_SIZE = 14`):

    id  token    meaning
    0   <pad>    right padding after EOS, never sampled on purpose (PAD_ID)
    1   <eos>    end of the response (EOS_ID)
    2   +
    3   =
    4…13 0…9    the digits: token id = 4 + digit (DIGIT_IDS[d])

Layout of one example (max_operand = 49: operand width 2, P = 6, R = 3):

    prompt [P]           response [R]
    0 7 + 3 5 =          4 2 <eos>            (sum 42: "42" then EOS)
    0 3 + 0 4 =          7 <eos> <pad>        (sum 7: one digit, EOS, right padding)

Both operands are zero-padded to the width of `max_operand`, so every prompt has the same length
P = 2 · width + 2 and no left padding is ever needed. The answer is the sum's decimal digits without
leading zeros, then EOS; `max_response_length` R = digits(2 · max_operand) + 1.

A response is the generated tokens up to and including the first EOS; after it the tokens are PAD and the
response mask is 0 (right padding). The reward is 1 exactly when that prefix equals answer + EOS.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from tf_gae.checks import positive_int

__all__ = [
    "PAD_ID",
    "EOS_ID",
    "PLUS_ID",
    "EQUALS_ID",
    "DIGIT_IDS",
    "TOKENS",
    "VOCAB_SIZE",
    "encode",
    "decode",
    "response_mask_from_tokens",
    "AdditionTask",
]

PAD_ID = 0
"""Right padding (after EOS, and after the answer in the supervised corpus)."""
EOS_ID = 1
"""End of the response."""
PLUS_ID = 2
"""The '+' between the operands."""
EQUALS_ID = 3
"""The '=' that ends every prompt."""
DIGIT_IDS = tuple(range(4, 14))
"""DIGIT_IDS[d] is the token id of the digit d (4 + d)."""

TOKENS = ("<pad>", "<eos>", "+", "=") + tuple(str(d) for d in range(10))
"""TOKENS[id] is the text of token `id`; special tokens are written "<pad>" and "<eos>"."""
VOCAB_SIZE = len(TOKENS)  # 14

_TOKEN_ID = {text: token_id for token_id, text in enumerate(TOKENS)}


def encode(text: str) -> list[int]:
    """The token ids of `text`: characters "0"-"9", "+", "=" and the special tokens "<eos>", "<pad>".

    Example: encode("07+35=42<eos>") == [4, 11, 2, 7, 9, 3, 8, 6, 1]. Anything else is a ValueError.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}; decode(ids) turns ids into text")
    ids = []
    position = 0
    while position < len(text):
        for special in ("<eos>", "<pad>"):
            if text.startswith(special, position):
                ids.append(_TOKEN_ID[special])
                position += len(special)
                break
        else:
            character = text[position]
            if character not in _TOKEN_ID:
                raise ValueError(
                    f"text has a character outside the vocabulary, {character!r} at index {position}; "
                    "use digits, '+', '=', '<eos>' and '<pad>' only"
                )
            ids.append(_TOKEN_ID[character])
            position += 1
    return ids


def decode(ids: Any) -> str:
    """The text of token ids (a sequence or 1-D array), every token written out: decode(encode(s)) == s."""
    array = np.asarray(ids)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D sequence of integer token ids, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= VOCAB_SIZE):
        raise ValueError(f"ids must lie in [0, {VOCAB_SIZE}), got values from {array.min()} to {array.max()}")
    return "".join(TOKENS[int(i)] for i in array)


def _token_matrix(tokens: Any, name: str) -> np.ndarray:
    """`tokens` as an int64 array [n, R] of valid token ids."""
    array = np.asarray(tokens)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [n, R], got shape {array.shape}; pass a batch of rows")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= VOCAB_SIZE):
        raise ValueError(f"{name} must hold token ids in [0, {VOCAB_SIZE}), got {array.min()}…{array.max()}")
    return array


def response_mask_from_tokens(response_ids: Any) -> np.ndarray:
    """Mask [n, R] float32: 1 up to and including the first EOS of each row, 0 after it; all ones without EOS.

    mask[i, t] = 1  ⇔  no EOS in response_ids[i, :t]   (an exclusive cumulative count of EOS is zero)
    """
    tokens = _token_matrix(response_ids, "response_ids")  # [n, R]
    is_eos = tokens == EOS_ID  # [n, R]
    eos_before = np.cumsum(is_eos, axis=1) - is_eos  # [n, R] number of EOS strictly before t
    return (eos_before == 0).astype(np.float32)


def _as_generator(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator or an integer seed, got {rng!r}; pass np.random.default_rng(0)")


class AdditionTask:
    """Prompts "aa+bb=" with operands uniform in [0, max_operand]; the verifiable answer is their sum.

    Attributes: `max_operand`, `operand_width` (digits of max_operand), `filler_length` F,
    `prompt_length` P = 2·width + 2, `max_response_length` R = digits(2·max_operand) + F + 1 (the EOS),
    `sequence_length` P + R, `vocab_size`, and `rng`, the numpy Generator seeded by `seed` that the sampling
    methods use when given rng=None.

    Long responses. With `filler_length` F > 0 the correct response is the sum's digits, then F '=' tokens,
    then EOS ("07+35=" → "42" + "=" × F + <eos>), all of which must be right for the score of 1. The tokens
    that decide the score (the digits) then stand F + 1 tokens or more before the last token, where the score
    is given: an instrument for how far a terminal reward's credit travels (chapter 6).
    """

    def __init__(self, max_operand: int = 49, seed: int = 0, filler_length: int = 0) -> None:
        if isinstance(max_operand, bool) or not isinstance(max_operand, numbers.Integral) or max_operand < 1:
            raise ValueError(f"max_operand must be a positive integer, got {max_operand!r}; e.g. 49")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if isinstance(filler_length, bool) or not isinstance(filler_length, numbers.Integral) or filler_length < 0:
            raise ValueError(f"filler_length must be a whole number ≥ 0 (0 = the answer then EOS), got {filler_length!r}")
        self.max_operand = int(max_operand)
        self.seed = int(seed)
        self.filler_length = int(filler_length)
        self.operand_width = len(str(self.max_operand))
        self.prompt_length = 2 * self.operand_width + 2  # P: "aa" "+" "bb" "="
        # R: the longest sum's digits, the F fillers, then EOS
        self.max_response_length = len(str(2 * self.max_operand)) + self.filler_length + 1
        self.sequence_length = self.prompt_length + self.max_response_length  # P + R
        self.vocab_size = VOCAB_SIZE
        self.rng = np.random.default_rng(self.seed)

    def __repr__(self) -> str:
        filler = f", filler_length={self.filler_length}" if self.filler_length else ""
        return f"AdditionTask(max_operand={self.max_operand}, seed={self.seed}{filler})"

    # ---------------------------------------------------------------------------------- prompts, answers

    def sample_operands(self, n: int, rng: Any = None) -> np.ndarray:
        """Operands [n, 2] int64, each uniform in [0, max_operand]."""
        generator = self.rng if rng is None else _as_generator(rng)
        return generator.integers(0, self.max_operand + 1, size=(positive_int(n, "n"), 2), dtype=np.int64)

    def prompts(self, operands: Any) -> np.ndarray:
        """Prompt ids [n, P] int32 for given operands [n, 2]: zero-padded a, '+', zero-padded b, '='."""
        operands = self._check_operands(operands)  # [n, 2]
        rows = [
            encode(f"{a:0{self.operand_width}d}+{b:0{self.operand_width}d}=") for a, b in operands.tolist()
        ]
        return np.asarray(rows, dtype=np.int32).reshape(len(rows), self.prompt_length)

    def sample_prompts(self, n: int, rng: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(prompt_ids [n, P] int32, operands [n, 2] int64) for n random problems."""
        operands = self.sample_operands(n, rng)
        return self.prompts(operands), operands

    def answers(self, operands: Any) -> list[list[int]]:
        """The correct responses as token lists: the digits of a + b (no leading zeros), F '=' fillers, then EOS."""
        operands = self._check_operands(operands)
        fillers = [EQUALS_ID] * self.filler_length
        return [encode(str(a + b)) + fillers + [EOS_ID] for a, b in operands.tolist()]

    # ---------------------------------------------------------------------------------- rewards

    def rewards(self, operands: Any, response_ids: Any, response_mask: Any = None) -> np.ndarray:
        """Verifiable reward [n] float32: 1.0 when the response up to its first EOS equals answer + EOS, else 0.0.

        The response of row i is response_ids[i] where response_mask[i] == 1 (the mask must be right-padding:
        ones then zeros); it earns 1 when its tokens up to and including the first EOS are exactly the
        answer's digits, the fillers, then EOS. No EOS inside the mask → 0; any extra or wrong token before EOS (including a
        leading zero) → 0. Tokens after the first EOS are ignored. `response_mask` None means
        `response_mask_from_tokens(response_ids)`.
        """
        operands = self._check_operands(operands)  # [n, 2]
        tokens = _token_matrix(response_ids, "response_ids")  # [n, R]
        if tokens.shape[0] != operands.shape[0]:
            raise ValueError(
                f"response_ids has {tokens.shape[0]} rows but operands has {operands.shape[0]}; pass one "
                "response per problem"
            )
        if response_mask is None:
            mask = response_mask_from_tokens(tokens)
        else:
            mask = np.asarray(response_mask)
            if mask.shape != tokens.shape:
                raise ValueError(
                    f"response_mask must have the shape of response_ids {tokens.shape}, got {mask.shape}"
                )
            if not np.all((mask == 0) | (mask == 1)):
                raise ValueError("response_mask must hold only 0 and 1")
            if np.any(np.diff(mask.astype(np.int64), axis=1) > 0):
                raise ValueError(
                    "response_mask must be right padding (ones, then zeros) in every row; build it with "
                    "response_mask_from_tokens(response_ids)"
                )
        lengths = mask.astype(np.int64).sum(axis=1)  # [n] tokens that belong to each response
        rewards = np.zeros(tokens.shape[0], dtype=np.float32)
        for row, (answer, length) in enumerate(zip(self.answers(operands), lengths.tolist())):
            response = tokens[row, :length].tolist()
            if EOS_ID not in response:
                continue  # never finished
            first_eos = response.index(EOS_ID)
            rewards[row] = float(response[: first_eos + 1] == answer)
        return rewards

    # ---------------------------------------------------------------------------------- supervised data

    def supervised_examples(self, operands: Any) -> tuple[np.ndarray, np.ndarray]:
        """(tokens [n, P+R] int32, loss_mask [n, P+R−1] float32) for next-token training on prompt + answer.

        tokens[i] = prompt, answer digits, the fillers, EOS, then PAD up to P + R. loss_mask[i, t] weighs the prediction of
        tokens[i, t+1] from tokens[i, :t+1]: it is 1 exactly when t+1 is a response position holding an answer
        digit, a filler or the EOS (P ≤ t+1 < P + len(answer + EOS)), so neither the prompt nor the padding is trained.
        Σ_t loss_mask · log π(tokens[:, t+1] | tokens[:, :t+1]) is then log π(answer + EOS | prompt).
        """
        operands = self._check_operands(operands)  # [n, 2]
        prompt_ids = self.prompts(operands)  # [n, P]
        tokens = np.full((prompt_ids.shape[0], self.sequence_length), PAD_ID, dtype=np.int32)  # [n, P+R]
        loss_mask = np.zeros((prompt_ids.shape[0], self.sequence_length - 1), dtype=np.float32)  # [n, P+R-1]
        tokens[:, : self.prompt_length] = prompt_ids
        start = self.prompt_length
        for row, answer in enumerate(self.answers(operands)):
            tokens[row, start : start + len(answer)] = answer
            loss_mask[row, start - 1 : start - 1 + len(answer)] = 1.0  # predicting tokens P … P+len−1
        return tokens, loss_mask

    def supervised_corpus(self, n: int, rng: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(tokens [n, P+R] int32, loss_mask [n, P+R−1] float32): :meth:`supervised_examples` of n random problems."""
        return self.supervised_examples(self.sample_operands(n, rng))

    def all_operands(self) -> np.ndarray:
        """Every problem once, [(max_operand+1)², 2] int64 in row-major order (a, b) = (0, 0), (0, 1), …"""
        values = np.arange(self.max_operand + 1, dtype=np.int64)
        a, b = np.meshgrid(values, values, indexing="ij")
        return np.stack([a.reshape(-1), b.reshape(-1)], axis=1)

    # ---------------------------------------------------------------------------------- checks

    def _check_operands(self, operands: Any) -> np.ndarray:
        array = np.asarray(operands)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"operands must have shape [n, 2], got shape {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"operands must be integers, got dtype {array.dtype}")
        array = array.astype(np.int64)
        if array.size and (array.min() < 0 or array.max() > self.max_operand):
            raise ValueError(
                f"operands must lie in [0, {self.max_operand}] (max_operand), got {array.min()}…{array.max()}"
            )
        return array
