"""Reranker call plans and the E2R-FLOPs paper convention, each against an independent
number: hand-computed integers for the paper's closed form, and call counts from running
the sorting algorithms themselves (a counting "LLM" that picks the most relevant document)."""

from __future__ import annotations

import math
import random

import pytest

from flopwise.llm import (
    BadLLMArgument,
    listwise_windows,
    paper_call_flops,
    rerank_calls,
    rerank_cost,
    setwise_bubble_plan,
    setwise_heap_plan,
    spec_from_config,
)
from flopwise.llm.rerank import call_flops

# d = 8, L = 2, ff = 16, 4 query heads over 2 key/value heads: GQA ratio r = 2
TINY = {
    "model_type": "llama",
    "hidden_size": 8,
    "intermediate_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 32,
    "max_position_embeddings": 4096,
}


class Judge:
    """The LLM of a setwise call: shown documents, returns the position of the most
    relevant (the first on a tie) and counts the calls and the documents per call."""

    def __init__(self, relevance: list[float]) -> None:
        self.relevance = relevance
        self.shown: list[int] = []

    def best(self, docs: list[int]) -> int:
        self.shown.append(len(docs))
        top = 0
        for pos, doc in enumerate(docs):
            if self.relevance[doc] > self.relevance[docs[top]]:
                top = pos
        return top


def heapsort_top_k(n: int, set_size: int, k: int, relevance: list[float]) -> list[int]:
    """Top-k by heapsort on a (set_size − 1)-ary max-heap (recursive sift, textbook build
    from the last internal node); returns the documents shown per call."""
    d = set_size - 1
    judge = Judge(relevance)
    heap = list(range(n))  # document ids in first-stage order

    def sift(node: int, size: int) -> None:
        kids = list(range(d * node + 1, min(d * node + d + 1, size)))
        if not kids:
            return
        group = [node, *kids]
        winner = group[judge.best([heap[i] for i in group])]
        if winner != node:
            heap[node], heap[winner] = heap[winner], heap[node]
            sift(winner, size)

    for node in range((n - 2) // d, -1, -1) if n > 1 else []:
        sift(node, n)
    ranked, size = [], n
    while len(ranked) < k and size > 0:
        ranked.append(heap[0])
        heap[0] = heap[size - 1]
        size -= 1
        if len(ranked) < k and size > 1:
            sift(0, size)
    # the brute force must really sort, or its count proves nothing
    assert ranked == sorted(range(n), key=lambda i: -relevance[i])[: len(ranked)]
    return judge.shown


def bubble_top_k(n: int, set_size: int, k: int, relevance: list[float]) -> list[int]:
    """Setwise bubble sort for the top k: each pass slides a set from the bottom to
    position i, moving the winner to the top of the set; returns documents per call."""
    judge = Judge(relevance)
    ranking = list(range(n))
    for i in range(min(k, n - 1)):
        end = n
        while True:
            start = max(end - set_size, i)
            best = judge.best(ranking[start:end])
            ranking[start], ranking[start + best] = ranking[start + best], ranking[start]
            if start == i:
                break
            end -= set_size - 1
    top = min(k, n - 1)
    assert ranking[:top] == sorted(range(n), key=lambda j: -relevance[j])[:top]
    return judge.shown


def rankgpt_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """RankGPT's sliding_windows loop with rank_end = n (window = n when n ≤ window)."""
    window = min(window, n)
    out = []
    end, start = n, n - window
    while start >= 0:
        out.append((start, end))
        end, start = end - step, start - step
    return out


# ---------------------------------------------------------------------------------------
# call plans


@pytest.mark.parametrize("set_size", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 50, 100])
@pytest.mark.parametrize("k", [1, 5, 10, 200])
def test_setwise_heapsort_calls_match_a_counted_heapsort(n, set_size, k):
    orders = {
        "reversed": [float(i) for i in range(n)],
        "sorted": [float(n - i) for i in range(n)],
    }
    for name, relevance in orders.items():
        expected = heapsort_top_k(n, set_size, k, relevance)
        assert setwise_heap_plan(n, set_size, k, name) == expected, name
        assert rerank_calls(
            "setwise", n, set_size=set_size, top_k=k, method="heap", order=name
        ) == (len(expected))
    rng = random.Random(n * 100 + set_size)
    for _ in range(3):
        relevance = [float(x) for x in rng.sample(range(n), n)]
        assert setwise_heap_plan(n, set_size, k, relevance) == heapsort_top_k(
            n, set_size, k, relevance
        )


def test_heapsort_counts_worked_example():
    # 100 candidates, sets of 4 (3 children per node), top 10 — the figures docs/llm.md quotes
    assert rerank_calls("setwise", 100, set_size=4, top_k=10, method="heap") == len(
        heapsort_top_k(100, 4, 10, [float(i) for i in range(100)])
    )
    assert len(heapsort_top_k(100, 4, 10, [float(i) for i in range(100)])) == 83
    assert len(heapsort_top_k(100, 4, 10, [float(100 - i) for i in range(100)])) == 69


@pytest.mark.parametrize("set_size", [2, 3, 4, 6])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 9, 10, 37, 100])
@pytest.mark.parametrize("k", [1, 3, 10, 150])
def test_setwise_bubble_calls_match_a_counted_bubble_sort(n, set_size, k):
    relevance = [float(x) for x in random.Random(n + 7 * set_size).sample(range(n), n)]
    shown = bubble_top_k(n, set_size, k, relevance)
    assert setwise_bubble_plan(n, set_size, k) == shown
    # the closed form Σ_{i<k} ceil((n − i − 1)/(c − 1))
    closed = sum(math.ceil((n - i - 1) / (set_size - 1)) for i in range(min(k, n - 1)))
    assert rerank_calls("setwise", n, set_size=set_size, top_k=k) == len(shown) == closed


@pytest.mark.parametrize(("window", "step"), [(20, 10), (5, 2), (4, 4), (10, 3), (3, 5)])
def test_listwise_calls_match_rankgpt_loop(window, step):
    for n in range(1, 121):
        assert listwise_windows(n, window, step) == rankgpt_windows(n, window, step), n
        assert rerank_calls("listwise", n, window=window, stride=step) == len(
            rankgpt_windows(n, window, step)
        )


def test_listwise_defaults_hand_counted():
    # windows start at 80, 70, ..., 0: 9 calls; with 95 candidates at 75, ..., 5: 8 calls
    # (RankGPT leaves positions 0-4 in the first stage's order)
    assert rerank_calls("listwise", 100) == 9
    assert rerank_calls("listwise", 95) == 8
    assert listwise_windows(95)[-1] == (5, 25)


# ---------------------------------------------------------------------------------------
# FLOPs


def test_paper_convention_hand_computed():
    spec = spec_from_config(TINY)
    # per layer: Q, O d² = 64 each; K, V d²/r = 32 each; MLP 2·d·ff = 256 → 448; N = 896
    # n = 10, o = 1: ctx = 2·896·10 + 4·2·10²·8/2 = 17920 + 3200 = 21120
    #                gen = 2·896·1 + 2·2·8/2·(2·1·10 + 0) = 1792 + 320 = 2112
    assert paper_call_flops(spec, 10, 1) == 23232
    # o = 3: gen = 2·896·3 + 16·(2·3·10 + 3·2) = 5376 + 1056 = 6432
    assert paper_call_flops(spec, 10, 3) == 21120 + 6432
    r = rerank_cost(
        spec,
        "pointwise",
        candidates=3,
        query_tokens=2,
        doc_tokens=8,
        template_tokens=0,
        convention="paper",
    )
    assert (r.calls, r.prompt_tokens, r.flops_per_call) == (3, 10, 23232)
    assert r.flops_per_query == 3 * 23232
    assert r.exact_flops_per_query == 3 * call_flops(spec, 10, 1)
    assert r.qpp == pytest.approx(1e15 / (3 * 23232))


def test_paper_convention_encoder_decoder_hand_computed():
    t5 = spec_from_config(
        {"model_type": "t5", "d_model": 8, "d_kv": 2, "d_ff": 16, "num_layers": 2,
         "num_heads": 4, "vocab_size": 32}
    )  # fmt: skip
    # N_enc = 2·8·2·(16 + 16) = 1024, N_dec = 2·8·2·(24 + 16) = 1280; n = 10, o = 2
    # ctx = 2·1024·10 + 4·2·100·8 = 26880; cross = 4·2·10·64 = 5120
    # gen = 2·1280·2 + 2·2·8·(2·2·10 + 2·1) = 5120 + 1344 = 6464
    assert paper_call_flops(t5, 10, 2) == 26880 + 5120 + 6464


def test_paper_convention_matches_authors_readme_example():
    """The E2R-FLOPs README example: Qwen2.5-7B, 200 input tokens, 1 output token
    (L = 28, d = 3584, ff = 18944, r = 7)."""
    qwen = spec_from_config(
        {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
         "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
         "vocab_size": 152064, "max_position_embeddings": 32768}
    )  # fmt: skip
    # N = 2·3584·28·(8/7·3584 + 18944) = 200704·23040 = 4,624,220,160
    # ctx = 2·N·200 + 4·28·200²·3584/7 = 1,849,688,064,000 + 2,293,760,000
    # gen = 2·N + 2·28·512·(2·200) = 9,248,440,320 + 11,468,800
    assert paper_call_flops(qwen, 200, 1) == 1_861_241_733_120


def test_setwise_bubble_prices_each_call_by_the_documents_it_shows():
    spec = spec_from_config(TINY)
    shown = bubble_top_k(10, 4, 2, [float(i) for i in range(10)])
    assert sorted(shown) == [3, 4, 4, 4, 4, 4]  # pass 1 ends with a set of 3 ([1, 4))
    r = rerank_cost(
        spec, "setwise", candidates=10, query_tokens=4, doc_tokens=6, template_tokens=2, top_k=2
    )
    assert r.calls == 6 and r.docs_per_call == ((4, 5), (3, 1))
    assert r.flops_per_query == sum(call_flops(spec, 2 + 4 + 6 * m, 1) for m in shown)
    assert r.flops_per_call == call_flops(spec, 2 + 4 + 6 * 4, 1)


def test_setwise_heap_prices_each_call():
    spec = spec_from_config(TINY)
    shown = heapsort_top_k(12, 3, 4, [float(i) for i in range(12)])
    r = rerank_cost(
        spec, "setwise", candidates=12, query_tokens=4, doc_tokens=6, template_tokens=2,
        set_size=3, top_k=4, method="heap", convention="paper",
    )  # fmt: skip
    assert r.calls == len(shown)
    assert r.flops_per_query == sum(paper_call_flops(spec, 6 + 6 * m, 1) for m in shown)
    assert r.exact_flops_per_query == sum(call_flops(spec, 6 + 6 * m, 1) for m in shown)


def test_unknown_method_order_and_convention_are_refused():
    with pytest.raises(BadLLMArgument, match="method = 'quick'"):
        rerank_calls("setwise", 10, method="quick")
    with pytest.raises(BadLLMArgument, match="order = 'shuffled'"):
        rerank_calls("setwise", 10, method="heap", order="shuffled")
    with pytest.raises(BadLLMArgument, match="convention = 'megatron'"):
        rerank_cost(TINY, "pointwise", candidates=2, convention="megatron")
    with pytest.raises(BadLLMArgument, match="order = 3"):
        setwise_heap_plan(4, order=[1.0, 2.0, 3.0])


def test_cli_setwise_heap_paper_beside_exact(tmp_path, capsys, monkeypatch):
    import json

    from flopwise.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY))
    args = ["llm", str(path), "--prompt", "8", "--gen", "1", "--no-ops", "--rerank", "setwise",
            "--setwise-method", "heap", "--candidates", "30", "--set-size", "3", "--top-k", "5",
            "--query-tokens", "4", "--doc-tokens", "6", "--template-tokens", "2",
            "--convention", "paper"]  # fmt: skip
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)["rerank"]
    shown = heapsort_top_k(30, 3, 5, [float(i) for i in range(30)])
    spec = spec_from_config(TINY)
    assert (out["method"], out["convention"], out["calls"]) == ("heap", "paper", len(shown))
    assert out["flops_per_query"] == sum(paper_call_flops(spec, 6 + 6 * m, 1) for m in shown)
    assert out["exact_flops_per_query"] == sum(call_flops(spec, 6 + 6 * m, 1) for m in shown)
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping of the table's title
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "the paper's formula" in table and "flopwise's exact count" in table


def test_paper_vs_exact_reconciliation_in_docs():
    """docs/llm.md's term-by-term table for Qwen2.5-7B, 200 prompt tokens, 1 output token:
    the exact projections + MLP equal the paper's 2·N·n plus SwiGLU's third d×ff matrix."""
    from flopwise.llm import forward_ops

    qwen = spec_from_config(
        {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
         "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
         "vocab_size": 152064, "max_position_embeddings": 32768}
    )  # fmt: skip
    ops = {op.name: op for op in forward_ops(qwen, 1, 200, 0, "last")}
    linear = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    d, layers, ff, n = 3584, 28, 18944, 200
    params = 2 * d * layers * (8 * d // 7 + ff)  # the paper's N, r = 7
    assert sum(2 * ops[k].macs for k in linear) == 2 * params * n + 2 * n * layers * d * ff
    assert 2 * params * n == 1_849_688_064_000
    assert 2 * n * layers * d * ff == 760_427_315_200
    # causal attention: 28 heads × Σ_{i<200} (i+1) = 20,100 pairs per head, (128 + 128) MACs
    attn = 2 * (ops["attn_scores"].macs + ops["attn_values"].macs)
    assert attn == 2 * layers * 28 * 20_100 * 256 == 8_068_300_800
    assert 2 * ops["lm_head"].macs == 2 * d * 152064 == 1_089_994_752
    assert call_flops(qwen, 200, 1) == 2_619_996_279_952
