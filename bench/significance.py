"""Significance benchmark: the stranger-distance tail, its calibration, FNIR at FPIR, its costs.

    .venv/bin/python bench/significance.py        (env SIZES, default 1000,100000,1000000)

1. Embeds the test photos with FaceMatch's pipeline (Dlib, dlib detector, 480), cached in
   .cache/significance/. Labels: identities.csv, and for the photos it leaves out, the groups
   that face-recognition-pivot.csv's "Yes" pairs join. Stranger pairs: every pair of different
   labels. Fits the reference tail (the constants in facematch.significance).
2. A synthetic face space: a Gaussian with the real embeddings' mean and covariance, shrunk
   towards a multiple of the identity by the lambda whose stranger distances best match the real
   ones (Kolmogorov-Smirnov), then L2-normalised. Every synthetic vector is a different person.
3. Calibration per size N: galleries A and B of N synthetic faces, Q synthetic stranger queries.
   Each source's estimate (query: from A's smallest distances; organization: a sample of 4,096
   stranger pairs of A; reference) gives t = distance_at(c / N); the number of B's faces within t
   (the true count, an independent gallery) is summed over the queries and compared with Q * c.
4. FNIR and FPIR on the real photos: each photo is a probe; mated search against every other
   photo, non-mated search against every photo of other people; galleries filled with synthetic
   faces to each size. Rules: threshold (d <= 0.07) and significance (E < 0.01 and d <= 0.07).
   Every query's tail is a compare's: from_neighbours, without the nearest face's cluster.
6. Duplicates of a person held m times: the duplicate check with from_query's tail and with
   from_neighbours'.
5. Costs: what the estimate adds to a warm compare (FaceMatch's own top-k search, 128 nearest
   against 1, and the fit), and what a calibration request takes.

Prints Markdown tables; writes bench/results/significance.json.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers"))

from facematch import significance as sig  # noqa: E402
from facematch.search import neighbours_each, top_k  # noqa: E402
from facematch.significance import TailEstimate  # noqa: E402
from facematch.tail_fit import fit_lower_tail  # noqa: E402
from facematch_testing.photos import people  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from common import FaceSpace  # noqa: E402

THRESHOLD = 0.07
PROBES = 32  # facematch.calibration.PROBES
MAX_E = 0.01
# The rules compared: the threshold alone, then significance at three bounds on the E-value.
RULES = {"threshold": math.inf, "significance E<0.01": 0.01, "significance E<0.1": 0.1, "significance E<1": 1.0}
MODEL = "Dlib"
REFERENCE_TAIL_FRACTION = 0.10
CACHE = ROOT / ".cache" / "significance"
RESULTS = ROOT / "bench" / "results" / "significance.json"
SIZES = [int(s) for s in os.environ.get("SIZES", "1000,100000,1000000").split(",")]
FACES = Path(os.environ.get("FACEMATCH_FACES_DIR", ROOT.parent / "shared" / "faces" / "deepface"))


def labels() -> dict[str, str]:
    return people(FACES)


def embeddings() -> tuple[list[str], list[str], np.ndarray]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "dlib.npz"
    named = labels()
    names = sorted(named, key=lambda n: int("".join(c for c in n if c.isdigit())))
    if path.exists():
        cached = np.load(path)
        if list(cached["names"]) == names:
            return names, [named[n] for n in names], cached["vectors"]
    os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    from facematch.faces import FaceEmbedder

    embedder = FaceEmbedder.load("Dlib", "dlib", 480)
    limits = {"max_bytes": 20 << 20, "max_pixels": 40_000_000, "max_decoded_bytes": 120_000_000}
    vectors = np.stack([embedder.embed_photo((FACES / n).read_bytes(), **limits).vector for n in names])
    np.savez(path, names=np.array(names), vectors=vectors)
    return names, [named[n] for n in names], vectors


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def poisson_ci(k: int, z: float = 1.96) -> tuple[float, float]:
    """Approximate 95 % interval of a Poisson mean from a count (Wilson-Hilferty)."""
    low = 0.0 if k == 0 else k * (1 - 1 / (9 * k) - z / (3 * math.sqrt(k))) ** 3
    high = (k + 1) * (1 - 1 / (9 * (k + 1)) + z / (3 * math.sqrt(k + 1))) ** 3
    return low, high


def table(headers: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()


def real_data() -> dict:
    names, people, vectors = embeddings()
    people_arr = np.array(people)
    distances = 1.0 - vectors @ vectors.T
    upper = np.triu_indices(len(names), 1)
    same = (people_arr[:, None] == people_arr[None, :])[upper]
    d = distances[upper].astype(np.float64)
    strangers, genuine = np.sort(d[~same & (d > 1e-6)]), np.sort(d[same])
    mean, sd = strangers.mean(), strangers.std(ddof=1)
    normal_p = 0.5 * math.erfc((mean - THRESHOLD) / (sd * math.sqrt(2)))
    tail = int(round(REFERENCE_TAIL_FRACTION * strangers.size))
    u, shape, scale = fit_lower_tail(strangers[:tail], np.arange(1, tail + 1), tail)
    knots = body_knots(strangers, strangers.size, tail, points=24)
    reference = {
        "pairs": int(strangers.size), "threshold": round(u, 6), "mass": round(tail / strangers.size, 6),
        "shape": shape, "scale": round(scale, 6), "knots": [[round(x, 6), round(p, 6)] for x, p in knots],
    }
    summary = {
        "photos": len(names), "people": len(set(people)), "stranger_pairs": int(strangers.size),
        "genuine_pairs": int(genuine.size), "closest_strangers": round(float(strangers[0]), 4),
        "farthest_genuine": round(float(genuine[-1]), 4), "stranger_mean": round(mean, 4),
        "stranger_sd": round(sd, 4), "normal_p_at_threshold": normal_p,
        "empirical_p_at_threshold": float(np.mean(strangers <= THRESHOLD)),
        "genuine_above_threshold": int(np.sum(genuine > THRESHOLD)),
        "reference": reference,
    }
    print("## Real Dlib distances of the test photos\n")
    table(list(summary)[:11], [[summary[k] if not isinstance(summary[k], float) else f"{summary[k]:.4g}"
                                for k in list(summary)[:11]]])
    print(f"Reference tail (paste into significance._REFERENCES): {json.dumps(reference)}\n")
    return {"summary": summary, "names": names, "people": people, "vectors": vectors, "strangers": strangers}


def ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(np.sort(a), grid, "right") / a.size
                               - np.searchsorted(np.sort(b), grid, "right") / b.size)))


def synthetic_space(real: dict, rng: np.random.Generator) -> tuple[FaceSpace, dict]:
    strangers = real["strangers"]
    rows = []
    best = None
    grid = [(a, b) for a in np.round(np.linspace(0.0, 1.0, 5), 2) for b in np.round(np.linspace(0.9, 1.5, 7), 2)]
    for shrink, spread in grid:
        space = FaceSpace(real["vectors"], float(shrink), float(spread))
        x = space.draw(800, rng)
        d = (1.0 - x[:400] @ x[400:].T).ravel()
        rows.append([shrink, spread, round(ks(d, strangers), 4)])
        if best is None or rows[-1][2] < best[1]:
            best = (space, rows[-1][2], d)
    space, distance, d = best
    quantiles = [0.001, 0.01, 0.05, 0.25, 0.5]
    match = {
        "shrink": space.shrink, "spread": space.spread, "ks": distance, "ks_by_shrink": rows,
        "quantiles": {str(q): [round(float(np.quantile(strangers, q)), 4), round(float(np.quantile(d, q)), 4)]
                      for q in quantiles},
        "p_at_threshold": [float(np.mean(strangers <= THRESHOLD)), float(np.mean(d <= THRESHOLD))],
    }
    print(f"## Synthetic face space (shrink {space.shrink}, spread {space.spread}, "
          f"KS distance to the real strangers {distance})\n")
    table(["quantile", "real strangers", "synthetic strangers"],
          [[q, *match["quantiles"][str(q)]] for q in quantiles] + [["P(d<=0.07)", *match["p_at_threshold"]]])
    return space, match


def smallest(distances: np.ndarray, m: int) -> np.ndarray:
    m = min(m, distances.size)
    return np.sort(np.partition(distances, m - 1)[:m])


# The alternative measured and not kept (docs/significance.md): each organization's stored sample
# of 4,096 stranger pairs, its lowest 5 % fitted, blended with the reference while small.
SAMPLE_PAIRS = 4096
SAMPLE_TAIL_FRACTION = 0.05
PRIOR_PAIRS = 256


def body_knots(distances: np.ndarray, total: int, start: int, points: int = 48) -> tuple[tuple[float, float], ...]:
    """Knots (distance, P(d <= distance)) of the empirical distribution above rank ``start``,
    ``distances`` being the ascending smallest of ``total``."""
    n = distances.size
    if n <= start:
        return ()
    ranks = np.unique(np.linspace(start, n, points).round().astype(int))
    return tuple((float(distances[r - 1]), float(r / total)) for r in ranks)


def organization_estimate(gallery: np.ndarray, rng: np.random.Generator) -> TailEstimate:
    """The organization-sample source: a fit to the lowest 5 % of 4,096 random stranger pairs."""
    i = rng.integers(0, gallery.shape[0], SAMPLE_PAIRS)
    j = (i + rng.integers(1, gallery.shape[0], i.size)) % gallery.shape[0]
    distances = np.sort(1.0 - np.einsum("ij,ij->i", gallery[i], gallery[j]).astype(np.float64))
    tail = int(round(SAMPLE_TAIL_FRACTION * SAMPLE_PAIRS))
    threshold, shape, scale = fit_lower_tail(distances[:tail], np.arange(1, tail + 1), tail)
    own = TailEstimate("organization", SAMPLE_PAIRS, threshold=threshold, mass=tail / SAMPLE_PAIRS,
                       shape=shape, scale=scale, knots=body_knots(distances, SAMPLE_PAIRS, tail))
    weight = SAMPLE_PAIRS / (SAMPLE_PAIRS + PRIOR_PAIRS)
    return TailEstimate("organization", SAMPLE_PAIRS, parts=((weight, own), (1 - weight, sig.reference(MODEL))))


def calibration(space: FaceSpace, rng: np.random.Generator) -> list[dict]:
    out = []
    levels = [0.1, 1.0, 10.0]
    for n in SIZES:
        queries = 200 if n <= 100_000 else 100
        a, b, q = space.draw(n, rng), space.draw(n, rng), space.draw(queries, rng)
        org = organization_estimate(a, rng)
        sources = ["query", "organization", "reference"]
        counts = {(s, c): [] for s in sources for c in levels}
        at_threshold = {s: 0.0 for s in sources}
        true_at_threshold = 0
        for start in range(0, queries, 20):
            da, db = 1.0 - q[start:start + 20] @ a.T, 1.0 - q[start:start + 20] @ b.T
            for row_a, row_b in zip(da, db, strict=True):
                part = np.argpartition(row_a, sig.NEIGHBOURS - 1)[: sig.NEIGHBOURS]
                order = part[np.argsort(row_a[part])]
                to_nearest = 1.0 - a[order] @ a[order[0]]
                estimates = {"query": sig.from_neighbours(row_a[order], to_nearest, n, MODEL, THRESHOLD),
                             "organization": org,
                             "reference": sig.reference(MODEL)}
                true_at_threshold += int(np.sum(row_b <= THRESHOLD))
                for s, est in estimates.items():
                    at_threshold[s] += sig.expected_false_matches(est.probability(THRESHOLD), n)
                    for c in levels:
                        counts[(s, c)].append(int(np.sum(row_b <= est.distance_at(c / n))))
        for s in sources:
            row = {"N": n, "source": s, "queries": queries,
                   "E_at_0.07": round(at_threshold[s] / queries, 3),
                   "true_at_0.07": round(true_at_threshold / queries, 3)}
            for c in levels:
                k = int(np.sum(counts[(s, c)]))
                low, high = poisson_ci(k)
                expected = queries * c
                row[f"E={c:g}"] = {"expected": expected, "observed": k, "ratio": round(k / expected, 3),
                                   "ratio_ci": [round(low / expected, 3), round(high / expected, 3)],
                                   "dispersion": round(float(np.var(counts[(s, c)]) / max(1e-9, np.mean(counts[(s, c)]))), 2)}
            out.append(row)
        del a, b
    print("## Calibration: observed chance hits in an independent gallery / the E-value (95 % CI)\n")
    table(["N", "source", "E=0.1 obs/exp", "E=1 obs/exp", "E=10 obs/exp", "dispersion at E=10",
           "mean E at 0.07", "true mean at 0.07"],
          [[r["N"], r["source"], *[f'{r[f"E={c:g}"]["ratio"]} [{r[f"E={c:g}"]["ratio_ci"][0]}, '
                                   f'{r[f"E={c:g}"]["ratio_ci"][1]}]' for c in levels],
            r["E=10"]["dispersion"], r["E_at_0.07"], r["true_at_0.07"]] for r in out])
    return out


def identification(real: dict, space: FaceSpace, rng: np.random.Generator) -> dict[str, list[dict]]:
    vectors, people = real["vectors"], np.array(real["people"])
    count = len(people)
    real_d = 1.0 - vectors @ vectors.T
    out, operating = [], []
    for n in [count - 1, *SIZES]:
        fill = space.draw(max(0, n - (count - 1)), rng)
        fill_d = 1.0 - vectors @ fill.T if fill.size else np.zeros((count, 0), np.float32)
        fill_p = float(np.mean(fill_d <= THRESHOLD)) if fill.size else float("nan")
        tallies = {rule: {"fp": 0, "fn": 0} for rule in RULES}
        searches = {"mated": 0, "non-mated": 0}
        bests = {"mated": [], "non-mated": []}  # (distance, E-value, a mate at rank 1) per search
        for p in range(count):
            for kind in ("mated", "non-mated"):
                keep = np.arange(count) != p if kind == "mated" else people != people[p]
                d = np.concatenate([real_d[p, keep], fill_d[p]])
                mates = np.concatenate([people[keep] == people[p], np.zeros(fill_d.shape[1], bool)])
                searched = d.size
                order = np.argsort(d)[: sig.NEIGHBOURS] if searched < 4 * sig.NEIGHBOURS else None
                if order is None:
                    m = min(sig.NEIGHBOURS, searched)
                    part = np.argpartition(d, m - 1)[:m]
                    order = part[np.argsort(d[part])]
                # As a compare: the fit leaves out the nearest face's cluster.
                kept = vectors[keep]
                near = np.stack([kept[i] if i < len(kept) else fill[i - len(kept)] for i in order])
                estimate = sig.from_neighbours(d[order], 1.0 - near @ near[0], searched, MODEL, THRESHOLD)
                best = order[0]
                e = sig.expected_false_matches(estimate.probability(d[best]), searched)
                accepted = {rule: d[best] <= THRESHOLD and e < bound for rule, bound in RULES.items()}
                searches[kind] += 1
                bests[kind].append((float(d[best]), e, bool(mates[best])))
                for rule, yes in accepted.items():
                    if kind == "mated" and not (yes and mates[best]):
                        tallies[rule]["fn"] += 1
                    if kind == "non-mated" and yes:
                        tallies[rule]["fp"] += 1
        for rule, t in tallies.items():
            out.append({"N": n, "rule": rule, "mated": searches["mated"], "non_mated": searches["non-mated"],
                        "fn": t["fn"], "fnir": t["fn"] / searches["mated"],
                        "fnir_ci": wilson(t["fn"], searches["mated"]), "fp": t["fp"],
                        "fpir": t["fp"] / searches["non-mated"], "fpir_ci": wilson(t["fp"], searches["non-mated"]),
                        "fill_p_at_threshold": fill_p})
        operating.extend(fnir_at_fpir(n, bests))
        del fill, fill_d
    print("## FNIR at a fixed FPIR: each rule's loosest setting that accepts at most k non-mated searches\n")
    table(["gallery N", "rule (what is varied)", "FPIR at most", "FNIR", "95 % CI"],
          [[r["N"], r["rule"], f'{r["fp_allowed"]}/{r["non_mated"]}', f'{r["fnir"]:.3f} ({r["fn"]}/{r["mated"]})',
            f'[{r["fnir_ci"][0]:.3f}, {r["fnir_ci"][1]:.3f}]'] for r in operating])
    print("## FNIR and FPIR on the test photos, galleries filled with synthetic faces (95 % Wilson CI)\n")
    table(["gallery N", "rule", "FPIR (fp/searches)", "FPIR CI", "FNIR (fn/searches)", "FNIR CI",
           "P(real probe to synthetic face <= 0.07)"],
          [[r["N"], r["rule"], f'{r["fpir"]:.3f} ({r["fp"]}/{r["non_mated"]})',
            f'[{r["fpir_ci"][0]:.3f}, {r["fpir_ci"][1]:.3f}]', f'{r["fnir"]:.3f} ({r["fn"]}/{r["mated"]})',
            f'[{r["fnir_ci"][0]:.3f}, {r["fnir_ci"][1]:.3f}]', f'{r["fill_p_at_threshold"]:.2e}'] for r in out])
    return {"identification": out, "fnir_at_fpir": operating}


def fnir_at_fpir(n: int, bests: dict[str, list[tuple[float, float, bool]]]) -> list[dict]:
    """NIST's FNIR at FPIR: for each rule family, the loosest setting that accepts at most k of the
    non-mated searches (k = 0, and 3 of 61, 4.9 %), and the mated searches it then misses.
    threshold: the distance varied; significance: the bound on the E-value varied, d <= 0.07."""
    families = {
        "threshold (distance)": lambda d, e: d,
        "significance (E-value, d <= 0.07)": lambda d, e: e if d <= THRESHOLD else math.inf,
    }
    rows = []
    mated, non_mated = bests["mated"], bests["non-mated"]
    for rule, score in families.items():
        strangers = sorted(score(d, e) for d, e, _ in non_mated)
        for allowed in (0, 3):
            # Accept scores strictly below the (allowed + 1)-th smallest stranger's: ties stay out.
            cut = strangers[allowed] if allowed < len(strangers) else math.inf
            fn = sum(1 for d, e, mate in mated if not (mate and score(d, e) < cut))
            rows.append({"N": n, "rule": rule, "fp_allowed": allowed, "non_mated": len(non_mated),
                         "mated": len(mated), "fn": fn, "fnir": fn / len(mated), "fnir_ci": wilson(fn, len(mated))})
    return rows


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def costs(space: FaceSpace, rng: np.random.Generator) -> dict:
    """What the estimate adds to a warm compare: the compare's search before (scores, top 1) and
    after (scores, the 128 smallest and their distances to the first, the fit, one probability),
    interleaved, against the whole warm compare (that search and the query photo's embedding,
    bench/results/enroll.json). Enrollment's duplicate check is bench/duplicate_check.py's."""
    enroll = json.loads((ROOT / "bench" / "results" / "enroll.json").read_text())
    embed_ms = round(enroll["facematch_median_s_per_image"] * 1000, 1)
    out: dict = {"embed_ms": embed_ms, "sizes": {}}
    queries = space.draw(20, rng)
    for n in SIZES:
        gallery = space.draw(n, rng)

        ids = np.arange(n, dtype=np.int64)

        def before(q: np.ndarray) -> None:  # the compare's search before significance: the best one
            top_k(ids, gallery, q, 1)

        def after(q: np.ndarray) -> list:  # the 128 nearest, the fit without the cluster, one probability
            (found,) = neighbours_each(ids, gallery, q[None, :], sig.NEIGHBOURS)
            tail = np.asarray([1.0 - c.similarity for c in found.candidates])
            sig.from_neighbours(tail, found.to_nearest, n, MODEL, THRESHOLD).probability(float(tail[0]))
            return found.candidates

        times = {"before": [], "after": []}
        for _ in range(3):
            for q in queries:
                for name, function in (("before", before), ("after", after)):
                    start = time.perf_counter()
                    function(q)
                    times[name].append((time.perf_counter() - start) * 1000)
        row = {name: round(float(np.median(values)), 3) for name, values in times.items()}
        row["extra_ms"] = round(row["after"] - row["before"], 3)
        # GET .../calibration: PROBES such searches and fits, then the pooled quantiles.
        start = time.perf_counter()
        fits = []
        for q in gallery[:PROBES]:
            found = top_k(ids, gallery, q, sig.QUERY_TAIL + 1)[1:]
            fits.append(sig.fit_query(np.asarray([1.0 - c.similarity for c in found]), n - 1, MODEL))
        pooled = sig.mixture(fits, "query")
        pooled.quantiles(), pooled.distance_at(MAX_E / n)
        row["calibration_ms"] = round((time.perf_counter() - start) * 1000, 1)
        row["extra_share_of_compare"] = round(row["extra_ms"] / (row["before"] + embed_ms), 4)
        out["sizes"][n] = row
        gallery = None
    print("## What the estimate adds to a warm compare (median ms over 60 queries, interleaved)\n")
    table(["N", "search before", "search + estimate", "extra", "extra / warm compare", "calibration (ms)"],
          [[n, r["before"], r["after"], r["extra_ms"], f'{100 * r["extra_share_of_compare"]:.2f} %',
            r["calibration_ms"]] for n, r in out["sizes"].items()])
    print(f"A warm compare = its search + the query photo's embedding ({embed_ms} ms median, "
          "bench/results/enroll.json). Enrollment's duplicate check: bench/duplicate_check.py.\n")
    return out


HELD_TIMES = (1, 4, 8, 12, 20, 48, 80)


def held_many_times(real: dict, space: FaceSpace, rng: np.random.Generator) -> list[dict]:
    """The duplicate check when a person is held m times (m noisy copies of their other photos)
    among N synthetic strangers: how often their photo's best copy is significant (E < 0.01)
    with the tail of from_query (the m copies read as the lowest strangers) and of
    from_neighbours (the nearest face's cluster left out); and how often a newcomer is flagged
    when a stranger is held m times."""
    vectors, people = real["vectors"], np.array(real["people"])
    probes = [i for i in range(len(people)) if np.sum(people == people[i]) > 1]

    def nearest(gallery: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.maximum(0.0, 1.0 - gallery @ query)
        order = np.argsort(d)[: sig.NEIGHBOURS]
        return d[order], 1.0 - gallery[order] @ gallery[order[0]]

    def copies(of: np.ndarray, m: int) -> np.ndarray:
        x = of[np.resize(np.arange(len(of)), m)] + rng.normal(0, 0.01, (m, of.shape[1])).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    rows = []
    for n in [size for size in SIZES if size <= 100_000]:
        strangers = space.draw(n, rng)
        for m in HELD_TIMES:
            found = {"from_query": 0, "from_neighbours": 0, "newcomer_flagged": 0}
            for i in probes:
                mates = copies(vectors[(people == people[i]) & (np.arange(len(people)) != i)], m)
                d, to_nearest = nearest(np.concatenate([strangers, mates]), vectors[i])
                best = float(np.min(1.0 - mates @ vectors[i]))
                for name, tail in (("from_query", sig.from_query(d[: sig.QUERY_TAIL], n + m, MODEL)),
                                   ("from_neighbours", sig.from_neighbours(d, to_nearest, n + m, MODEL, THRESHOLD))):
                    found[name] += sig.significant_duplicate(best, n + m, tail)
                other = copies(vectors[[rng.choice(np.flatnonzero(people != people[i]))]], m)
                d, to_nearest = nearest(np.concatenate([strangers, other]), vectors[i])
                tail = sig.from_neighbours(d, to_nearest, n + m, MODEL, THRESHOLD)
                found["newcomer_flagged"] += sig.significant_duplicate(float(d[0]), n + m, tail)
            rows.append({"N": n, "held": m, "probes": len(probes), **found})
        del strangers
    print("## Duplicates of a person held m times (best copy significant, of the probes)\n")
    table(["N", "held m times", "from_query", "from_neighbours", "newcomer flagged, a stranger held m times"],
          [[r["N"], r["held"], f'{r["from_query"]}/{r["probes"]}', f'{r["from_neighbours"]}/{r["probes"]}',
            f'{r["newcomer_flagged"]}/{r["probes"]}'] for r in rows])
    return rows


def main() -> None:
    rng = np.random.default_rng(20240607)
    started = time.time()
    real = real_data()
    space, match = synthetic_space(real, rng)
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "real": real["summary"], "synthetic_space": match,
        "query_tail": sig.QUERY_TAIL, "calibration": calibration(space, rng),
    }
    results.update(identification(real, space, rng))
    results["held_many_times"] = held_many_times(real, space, rng)
    results["costs"] = costs(space, rng)
    results["seconds"] = round(time.time() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"Wrote {RESULTS.relative_to(ROOT)} in {results['seconds']} s.")


if __name__ == "__main__":
    main()
