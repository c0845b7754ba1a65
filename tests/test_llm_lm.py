"""tf_gae.llm.task and tf_gae.llm.lm: the addition task's tokens and rewards, the causal LM, its sampler, warm start."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tf_gae._tf import tf

import keras  # noqa: E402

from tf_gae.llm.lm import (  # noqa: E402
    TinyCausalLM,
    accuracy,
    answer_log_probs,
    dense_gradients,
    expected_accuracy,
    generate,
    response_log_probs_and_values,
    supervised_warm_start,
    token_log_probs,
    token_log_probs_and_values,
    token_values,
)
from tf_gae.llm.task import (  # noqa: E402
    DIGIT_IDS,
    EOS_ID,
    EQUALS_ID,
    PAD_ID,
    PLUS_ID,
    VOCAB_SIZE,
    AdditionTask,
    decode,
    encode,
    response_mask_from_tokens,
)

TASK = AdditionTask(max_operand=49)
LONG_RESPONSE = 8  # longer than the task's R = 3, so untrained models often sample EOS before the end


def make_model(seed: int = 0, max_length: int = 16) -> TinyCausalLM:
    keras.utils.set_random_seed(seed)
    return TinyCausalLM(VOCAB_SIZE, max_length)


@pytest.fixture(scope="module")
def model() -> TinyCausalLM:
    return make_model(seed=0)


def numpy_log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def random_tokens(seed, batch=4, length=12):
    return np.random.default_rng(seed).integers(0, VOCAB_SIZE, size=(batch, length)).astype(np.int32)


def responses(*texts):
    return np.asarray([encode(text) for text in texts], np.int32)


# ------------------------------------------------------------------------------------ vocabulary and task


def test_vocabulary_ids_and_round_trip():
    assert (PAD_ID, EOS_ID, PLUS_ID, EQUALS_ID) == (0, 1, 2, 3)
    assert DIGIT_IDS == tuple(range(4, 14)) and VOCAB_SIZE == 14
    assert encode("07+35=42<eos>") == [4, 11, 2, 7, 9, 3, 8, 6, 1]
    for text in ("07+35=42<eos>", "0123456789+=<eos><pad><pad>", ""):
        assert decode(encode(text)) == text
    ids = list(range(VOCAB_SIZE))
    assert encode(decode(ids)) == ids
    with pytest.raises(ValueError, match="outside the vocabulary"):
        encode("1-2")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 14\)"):
        decode([3, 14])


def test_prompts_answers_and_lengths():
    assert (TASK.operand_width, TASK.prompt_length, TASK.max_response_length, TASK.sequence_length) == (2, 6, 3, 9)
    assert AdditionTask(max_operand=50).max_response_length == 4  # 100 has three digits
    assert AdditionTask(max_operand=9).prompt_length == 4
    prompt_ids, operands = TASK.sample_prompts(200, np.random.default_rng(0))
    assert prompt_ids.shape == (200, 6) and prompt_ids.dtype == np.int32 and operands.shape == (200, 2)
    assert operands.min() >= 0 and operands.max() <= 49
    for row, (a, b) in zip(prompt_ids, operands):
        assert decode(row) == f"{a:02d}+{b:02d}="
    assert decode(TASK.prompts([[7, 35]])[0]) == "07+35="
    assert TASK.answers([[7, 35], [3, 4], [0, 0], [49, 49]]) == [
        encode("42<eos>"),
        encode("7<eos>"),
        encode("0<eos>"),
        encode("98<eos>"),
    ]
    same, _ = TASK.sample_prompts(5, np.random.default_rng(3))
    again, _ = TASK.sample_prompts(5, 3)  # an int seed is a fresh Generator
    np.testing.assert_array_equal(same, again)
    assert TASK.all_operands().shape == (2500, 2) and len({tuple(r) for r in TASK.all_operands()}) == 2500
    with pytest.raises(ValueError, match=r"operands must lie in \[0, 49\]"):
        TASK.prompts([[50, 1]])


def test_supervised_corpus_layout():
    tokens, loss_mask = TASK.supervised_examples([[7, 35], [3, 4]])
    assert tokens.shape == (2, 9) and loss_mask.shape == (2, 8)
    assert decode(tokens[0]) == "07+35=42<eos>" and decode(tokens[1]) == "03+04=7<eos><pad>"
    # loss_mask[t] weighs the prediction of tokens[t+1]: the answer digits and EOS only
    np.testing.assert_array_equal(loss_mask, [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 0]])
    tokens, loss_mask = TASK.supervised_corpus(64, np.random.default_rng(1))
    assert tokens.shape == (64, 9) and tokens.dtype == np.int32 and loss_mask.dtype == np.float32
    assert np.all(tokens[:, 5] == EQUALS_ID) and np.all(loss_mask[:, :5] == 0)


def test_long_responses_with_fillers():
    long = AdditionTask(filler_length=4)
    assert (long.prompt_length, long.max_response_length, long.sequence_length) == (6, 7, 13)
    assert long.answers([[7, 35], [3, 4]]) == [encode("42====<eos>"), encode("7====<eos>")]
    tokens, loss_mask = long.supervised_examples([[3, 4]])
    assert decode(tokens[0]) == "03+04=7====<eos><pad>"
    np.testing.assert_array_equal(loss_mask[0], [0] * 5 + [1] * 6 + [0])  # the digit, 4 fillers, EOS
    ids = np.array([encode(text) for text in ("42====<eos>", "42===<eos><pad>", "43====<eos>", "42=====")])
    np.testing.assert_array_equal(long.rewards([[7, 35]] * 4, ids), [1, 0, 0, 0])  # every filler counts
    assert "filler_length=4" in repr(long)
    with pytest.raises(ValueError, match="filler_length must be a whole number"):
        AdditionTask(filler_length=-1)


def test_rewards_hand_cases():
    operands = [[7, 35], [3, 4], [49, 49], [0, 0], [7, 35], [7, 35], [3, 4], [3, 4], [3, 4], [3, 4], [0, 0]]
    response_ids = responses(
        "42<eos>",  # exact → 1
        "7<eos><pad>",  # exact, one digit → 1
        "98<eos>",  # exact → 1
        "0<eos><pad>",  # 0 + 0 = 0 → 1
        "43<eos>",  # wrong digit → 0
        "427",  # no EOS → 0
        "77<eos>",  # extra token before EOS → 0
        "07<eos>",  # leading zero → 0
        "<eos><pad><pad>",  # empty answer → 0
        "7<eos>5",  # tokens after the first EOS are ignored → 1
        "00<eos>",  # leading zero of 0 → 0
    )
    expected = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    rewards = TASK.rewards(operands, response_ids, response_mask_from_tokens(response_ids))
    assert rewards.dtype == np.float32 and rewards.shape == (11,)
    np.testing.assert_array_equal(rewards, expected)
    np.testing.assert_array_equal(TASK.rewards(operands, response_ids), expected)  # mask from the tokens
    # a mask that ends before the EOS means the response never finished
    assert TASK.rewards([[7, 35]], responses("42<eos>"), [[1, 1, 0]])[0] == 0.0
    with pytest.raises(ValueError, match="right padding"):
        TASK.rewards([[7, 35]], responses("42<eos>"), [[1, 0, 1]])
    with pytest.raises(ValueError, match="one response per problem"):
        TASK.rewards([[7, 35], [1, 1]], responses("42<eos>"))


def test_response_mask_from_tokens():
    response_ids = responses("42<eos><pad>", "<eos><pad><pad><pad>", "4242", "4<eos>4<eos>")
    np.testing.assert_array_equal(
        response_mask_from_tokens(response_ids),
        [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]],
    )
    assert response_mask_from_tokens(response_ids).dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \[n, R\]"):
        response_mask_from_tokens([1, 2, 3])


# ------------------------------------------------------------------------------------ the model


def test_shapes_and_deterministic_init(model):
    tokens = random_tokens(0, batch=3, length=9)
    logits, values = model(tokens)
    assert logits.shape == (3, 9, VOCAB_SIZE) and values.shape == (3, 9)
    assert logits.dtype == tf.float32 and values.dtype == tf.float32
    again = make_model(seed=0)
    for first, second in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(first, second)
    other = make_model(seed=1)
    assert not np.array_equal(model(tokens)[0].numpy(), other(tokens)[0].numpy())
    # the query, key and value projections are initialised independently
    query_kernel, _, key_kernel = model.block_0.attention.get_weights()[:3]
    assert not np.allclose(query_kernel, key_kernel)
    with pytest.raises(ValueError, match="max_length=16"):
        model(random_tokens(0, length=17))
    with pytest.raises(ValueError, match="d_model must be divisible by num_heads"):
        TinyCausalLM(VOCAB_SIZE, 9, d_model=30, num_heads=4)


def test_causal_mask(model):
    tokens = random_tokens(1, batch=4, length=12)
    logits, values = (x.numpy() for x in model(tokens))
    log_probs = token_log_probs(model, tokens).numpy()  # [B, 11]
    for changed in (1, 5, 11):
        edited = tokens.copy()
        edited[:, changed] = (edited[:, changed] + 1 + np.arange(4)) % VOCAB_SIZE
        edited_logits, edited_values = (x.numpy() for x in model(edited))
        edited_log_probs = token_log_probs(model, edited).numpy()
        # positions before the change see none of it (the attention weights on later keys are exactly 0)
        np.testing.assert_allclose(edited_logits[:, :changed], logits[:, :changed], rtol=0, atol=1e-6)
        np.testing.assert_allclose(edited_values[:, :changed], values[:, :changed], rtol=0, atol=1e-6)
        # log-prob index t predicts token t+1, so indices < changed − 1 neither see nor score the change
        np.testing.assert_allclose(
            edited_log_probs[:, : changed - 1], log_probs[:, : changed - 1], rtol=0, atol=1e-6
        )
        # ... while the changed position and every later one do change
        assert np.all(np.abs(edited_logits[:, changed:] - logits[:, changed:]).max(axis=-1) > 1e-5)
        assert np.all(np.abs(edited_values[:, changed:] - values[:, changed:]) > 1e-7)
        assert np.all(np.abs(edited_log_probs[:, changed - 1 :] - log_probs[:, changed - 1 :]) > 1e-7)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_log_probs_and_values_against_numpy(model, temperature):
    tokens = random_tokens(2, batch=3, length=9)
    logits, values = (x.numpy() for x in model(tokens))
    log_policy = numpy_log_softmax(logits[:, :-1] / temperature)  # [B, 8, V]
    expected = np.take_along_axis(log_policy, tokens[:, 1:, None].astype(np.int64), axis=-1)[..., 0]  # [B, 8]
    np.testing.assert_allclose(token_log_probs(model, tokens, temperature).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(token_values(model, tokens).numpy(), values[:, :-1], atol=1e-7)
    both = token_log_probs_and_values(model, tokens, temperature)
    np.testing.assert_allclose(both[0].numpy(), expected, atol=1e-5)
    # response token j sits at position P + j; its log-prob and value are index P − 1 + j
    prompt_length = 6
    response_log_probs, response_values = response_log_probs_and_values(
        model, tokens[:, :prompt_length], tokens[:, prompt_length:], temperature
    )
    assert response_log_probs.shape == (3, 3) and response_values.shape == (3, 3)
    np.testing.assert_allclose(response_log_probs.numpy(), expected[:, prompt_length - 1 :], atol=1e-5)
    np.testing.assert_allclose(response_values.numpy(), values[:, prompt_length - 1 : -1], atol=1e-7)
    with pytest.raises(ValueError, match="temperature"):
        token_log_probs(model, tokens, 0.0)


def test_answer_log_probs_and_expected_accuracy(model):
    operands = [[7, 35], [3, 4]]
    tokens, loss_mask = TASK.supervised_examples(operands)
    expected = (token_log_probs(model, tokens).numpy() * loss_mask).sum(axis=1)  # log π(answer + EOS | prompt)
    np.testing.assert_allclose(answer_log_probs(model, TASK, operands).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(expected_accuracy(model, TASK, operands), np.exp(expected).mean(), rtol=1e-5)


def test_dense_gradients():
    sparse = tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([1]), tf.constant([3, 2]))
    dense, none, tensor = dense_gradients([sparse, None, tf.ones([2])])
    assert isinstance(dense, tf.Tensor) and none is None
    np.testing.assert_array_equal(dense.numpy(), [[0, 0], [1, 2], [0, 0]])
    np.testing.assert_array_equal(tensor.numpy(), [1, 1])


# ------------------------------------------------------------------------------------ sampling


def test_generate_shapes_mask_and_seeds(model):
    prompt_ids, _ = TASK.sample_prompts(64, np.random.default_rng(4))
    response_ids, response_mask = generate(model, prompt_ids, LONG_RESPONSE, seed=7)
    assert response_ids.shape == (64, LONG_RESPONSE) and response_ids.dtype == tf.int32
    assert response_mask.shape == (64, LONG_RESPONSE) and response_mask.dtype == tf.float32
    response_ids, response_mask = response_ids.numpy(), response_mask.numpy()
    np.testing.assert_array_equal(response_mask, response_mask_from_tokens(response_ids))
    ended_early = 0
    for row, mask in zip(response_ids, response_mask):
        eos_positions = np.flatnonzero(row == EOS_ID)
        if eos_positions.size:
            first = eos_positions[0]
            assert np.all(row[first + 1 :] == PAD_ID) and np.all(mask[first + 1 :] == 0) and mask[first] == 1
            ended_early += first < LONG_RESPONSE - 1
    assert ended_early >= 5  # the PAD-after-EOS path was exercised

    same, _ = generate(model, prompt_ids, LONG_RESPONSE, seed=7)
    np.testing.assert_array_equal(same.numpy(), response_ids)
    same_pair, _ = generate(model, prompt_ids, LONG_RESPONSE, seed=tf.constant([7, 0], tf.int64))
    np.testing.assert_array_equal(same_pair.numpy(), response_ids)  # an int seed s is the pair [s, 0]
    different, _ = generate(model, prompt_ids, LONG_RESPONSE, seed=8)
    assert not np.array_equal(different.numpy(), response_ids)


def test_greedy_is_deterministic_and_matches_prefix_decoding(model):
    prompt_ids, _ = TASK.sample_prompts(8, np.random.default_rng(5))
    greedy, greedy_mask = generate(model, prompt_ids, 4, temperature=0.0, seed=1)
    greedy_again, _ = generate(model, prompt_ids, 4, temperature=0.0, seed=2)
    np.testing.assert_array_equal(greedy.numpy(), greedy_again.numpy())
    # decode step by step on the growing prefix alone (no PAD placeholders): the same tokens
    tokens = prompt_ids.copy()
    finished = np.zeros(8, bool)
    for _ in range(4):
        next_tokens = np.argmax(model(tokens)[0].numpy()[:, -1], axis=-1).astype(np.int32)
        next_tokens = np.where(finished, PAD_ID, next_tokens)
        finished |= next_tokens == EOS_ID
        tokens = np.concatenate([tokens, next_tokens[:, None]], axis=1)
    np.testing.assert_array_equal(greedy.numpy(), tokens[:, 6:])
    np.testing.assert_array_equal(greedy_mask.numpy(), response_mask_from_tokens(tokens[:, 6:]))


def test_sampling_follows_the_tempered_softmax(model):
    prompt_ids = np.repeat(TASK.prompts([[12, 34]]), 8000, axis=0)
    temperature = 0.5
    first_tokens = generate(model, prompt_ids, 1, temperature=temperature, seed=3)[0].numpy()[:, 0]
    frequencies = np.bincount(first_tokens, minlength=VOCAB_SIZE) / first_tokens.size
    probabilities = np.exp(numpy_log_softmax(model(prompt_ids[:1])[0].numpy()[0, -1] / temperature))
    np.testing.assert_allclose(frequencies, probabilities, atol=0.02)  # ≥ 6 standard errors


def test_generate_errors(model):
    prompt_ids, _ = TASK.sample_prompts(2, np.random.default_rng(6))
    with pytest.raises(ValueError, match="max_length"):
        generate(model, prompt_ids, 11, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, prompt_ids, 3, temperature=-1.0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        generate(model, prompt_ids, 3, seed=[1, 2, 3])


# ------------------------------------------------------------------------------------ warm start, checkpoints


def test_supervised_warm_start_lowers_loss_and_stops_at_target():
    model = make_model(seed=0, max_length=TASK.sequence_length)
    initial_accuracy = expected_accuracy(model, TASK)
    losses = supervised_warm_start(model, TASK, steps=300, seed=0, target_accuracy=0.05)
    assert len(losses) < 300 and len(losses) % 5 == 0  # stopped at a check
    assert losses[0] > 2.0  # ≈ log 14 at the start
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert initial_accuracy < 0.01 and expected_accuracy(model, TASK) > 0.035
    assert 0.0 <= accuracy(model, TASK, 64, seed=1) <= 1.0


def test_supervised_warm_start_fixed_steps_and_cap_warning():
    model = make_model(seed=1, max_length=TASK.sequence_length)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(supervised_warm_start(model, TASK, steps=3, target_accuracy=None)) == 3
    with pytest.warns(UserWarning, match="without reaching"):
        assert len(supervised_warm_start(model, TASK, steps=5, target_accuracy=0.99)) == 5
    with pytest.raises(ValueError, match="max_length"):
        supervised_warm_start(make_model(max_length=8), TASK, steps=1)


def test_checkpoint_round_trip(model, tmp_path):
    tokens = random_tokens(3, batch=2, length=10)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "lm"))
    restored = make_model(seed=5)
    assert not np.array_equal(restored(tokens)[0].numpy(), model(tokens)[0].numpy())
    status = tf.train.Checkpoint(model=restored).read(path)
    status.assert_existing_objects_matched()
    for original, loaded in zip(model(tokens), restored(tokens)):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())
    assert len(restored.trainable_variables) == len(model.trainable_variables)
