"""相似诉求 clusters (issue 21 part 6): reworded demands meet across communities and
weeks; the method beats the character-bigram baseline on the labelled paraphrase
set (tests/cases/data/paraphrases.json, held-out half); detection is idempotent and
its statements do not grow with the window."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.clustering import BIGRAM, IN_USE, assign, evaluate, normalise, pairwise_quality, similarity_matrix
from cases.clusters import clusters_detect_for, clusters_similar_for, clusters_sweep
from cases.models import Cluster
from cases.tooling.bench_cluster import BIGRAM_BEFORE, LABELLED, at, best, labelled_halves
from tests.conftest import local, new_ticket

#: Measured on the held-out half at the threshold in use (bench --only cluster):
#: precision 0.49, recall 0.45, F1 0.47; the bigram baseline's best is F1 0.12.
#: The floors leave a margin below what was measured.
HELD_OUT_MIN_F1 = 0.40
HELD_OUT_MIN_PRECISION = 0.40
HELD_OUT_MIN_RECALL = 0.38

#: Reworded streetlight complaints (the issue's "five reworded 路灯 complaints").
LIGHTS = [
    "小区门口路灯不亮了，晚上黑乎乎的",
    "我们这边路灯坏了好几天，晚上出门看不见路",
    "市民反映路灯晚上全部不亮，夜间出行不安全",
    "路登晚上不亮，黑灯瞎火的孩子放学害怕",
    "门口这条路的路灯灭了，一直没人来修",
]


#: Other demands of the street in the same weeks: a window is never only the cluster
#: (TF-IDF weighs a word by how few of the window's tickets use it).
OTHERS = [
    "楼上邻居装修噪音太大，周末一早就砸墙",
    "小区垃圾桶满了三天没人清运",
    "消防通道被私家车占用",
    "楼下饭店油烟直冲窗户",
    "路口井盖缺失很危险",
    "楼前大树枝叶遮挡采光需要修剪",
    "公交车半小时才来一趟",
    "医保异地报销流程咨询",
    "工地拖欠工资三个月",
    "自来水发黄有铁锈味",
    "电梯停运一周无人维修",
    "燃气表充值不到账",
    "流浪狗咬伤行人",
    "超市卖过期牛奶",
    "培训机构关门不退费",
    "楼道电动车充电有火灾隐患",
    "物业费涨价未公示",
    "下雨路口积水严重",
    "出租车拒载",
    "小区老鼠多",
]


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def others(city, clock):
    return make_others(city, clock)


def make_others(city, clock):
    """The street's other demands of the last days (received a day before now)."""
    clock.shift(timedelta(days=-1))
    made = [
        new_ticket(city, content=text, category=city.noise, citizen_phone=f"1370000{i:04d}")
        for i, text in enumerate(OTHERS)
    ]
    clock.shift(timedelta(days=1))
    return made


# -- the measure ---------------------------------------------------------------------------


def test_the_labelled_set_is_big_enough_and_has_hard_negatives():
    data = json.loads(LABELLED.read_text(encoding="utf-8"))
    groups = [g for f in data["families"] for g in f["groups"]]
    texts = [t for g in groups for t in g["texts"]]
    assert len(groups) >= 40 and len(texts) >= 200
    assert len({g["id"] for g in groups}) == len(groups)
    assert len(set(texts)) == len(texts)
    assert all(len(g["texts"]) >= 5 for g in groups)
    assert sum(len(f["groups"]) > 1 for f in data["families"]) >= 15  # families of hard negatives
    (tune, tune_truth), (held, held_truth) = labelled_halves()
    assert not set(tune_truth) & set(held_truth)  # split by family: no group on both sides
    assert len(tune) + len(held) == len(texts)


def test_the_method_beats_the_bigram_baseline_on_the_held_out_half(settings):
    (tune, tune_truth), (held, held_truth) = labelled_halves()
    thresholds = [round(0.05 * i, 2) for i in range(1, 11)]
    chosen = settings.HOTLINE_CLUSTER_SIMILARITY
    in_use = at(evaluate(held, held_truth, IN_USE, [chosen]), chosen)
    assert in_use.precision >= HELD_OUT_MIN_PRECISION
    assert in_use.recall >= HELD_OUT_MIN_RECALL
    assert in_use.f1 >= HELD_OUT_MIN_F1
    # The baseline at its old threshold finds nothing; at its best threshold on the
    # tuning half it still does far worse.
    bigram_tuned = best(evaluate(tune, tune_truth, BIGRAM, thresholds)).threshold
    bigram = evaluate(held, held_truth, BIGRAM, [BIGRAM_BEFORE, bigram_tuned])
    assert bigram[0].recall < 0.05
    assert max(q.f1 for q in bigram) + 0.2 <= in_use.f1


def test_the_threshold_in_use_is_the_best_on_the_tuning_half(settings):
    (tune, tune_truth), _held = labelled_halves()
    sweep = evaluate(tune, tune_truth, IN_USE, [round(0.05 * i, 2) for i in range(1, 11)])
    assert best(sweep).threshold == pytest.approx(settings.HOTLINE_CLUSTER_SIMILARITY)


def test_pairwise_quality_counts_pairs_by_hand():
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = [0, 0, 1, 1, 1, None]
    q = pairwise_quality(truth, predicted, 0.5)
    # predicted pairs: (0,1) a-a ✓, (2,3) a-b ✗, (2,4) a-b ✗, (3,4) b-b ✓ → 2 of 4
    # true pairs: (0,1) (0,2) (1,2) (3,4) → 2 of 4 together
    assert (q.predicted_pairs, q.true_pairs) == (4, 4)
    assert q.precision == 0.5 and q.recall == 0.5 and q.f1 == 0.5


def test_assign_joins_the_most_similar_clustered_neighbour():
    # 0 and 1 open a cluster; 2 is near 1 only; 3 is near nothing; 4 opens a second with 3.
    neighbours = [[], [(0, 0.9)], [(1, 0.5)], [], [(3, 0.4)]]
    assert assign(neighbours, min_size=2) == [0, 0, 0, 1, 1]
    # at three, 0-1-2 are linked through 1 (2 is not near 0): one cluster; 3-4 are two
    assert assign(neighbours, min_size=3) == [0, 0, 0, None, None]
    assert assign(neighbours, min_size=4) == [None] * 5


def test_rewording_survives_where_bigrams_fail():
    pair = ["暖气不热，室温只有十五度", "家里暖气温度太低了不达标"]
    assert similarity_matrix(pair, BIGRAM)[0, 1] < 0.1
    assert similarity_matrix(pair, IN_USE)[0, 1] > similarity_matrix(pair, BIGRAM)[0, 1]
    assert normalise("俺家暖器片子3号楼，室内温度14度！") == normalise("俺家暖气片子号楼，室温度")


# -- detection in the database --------------------------------------------------------


def test_reworded_demands_cluster_across_communities_and_weeks(city, clock, settings, others):
    settings.HOTLINE_MASS_COUNT = 5
    settings.HOTLINE_CLUSTER_SCOPE = "street"
    places = [city.community, city.community_b, city.community, city.community_b, city.community]
    made = []
    for i, (text, community) in enumerate(zip(LIGHTS, places, strict=True)):
        made.append(new_ticket(city, content=text, community=community, citizen_phone=f"1390000100{i}", address=""))
        clock.shift(timedelta(days=3))  # five calls over twelve days
    assert {t.street_id for t in made} == {city.street.pk}
    assert len({t.community_id for t in made}) == 2
    found = [c for c in clusters_detect_for(made[-1]) if c.kind == Cluster.Kind.SIMILAR]
    assert len(found) == 1
    cluster = found[0]
    assert set(cluster.tickets.all()) == set(made)
    assert cluster.size == 5
    assert cluster.community is None and cluster.street == city.street  # several communities, one street
    # today's bigram rule would not have grouped them
    assert max(similarity_matrix(LIGHTS, BIGRAM)[4, :4]) < BIGRAM_BEFORE


def test_the_territory_and_the_window_bound_the_cluster(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 3
    settings.HOTLINE_CLUSTER_DAYS = 7
    old = new_ticket(city, content=LIGHTS[0], citizen_phone="13900002000")
    clock.shift(timedelta(days=10))  # out of the 7-day window
    make_others(city, clock)
    other_street = new_ticket(city, content=LIGHTS[1], community=city.community2, citizen_phone="13900002001")
    a = new_ticket(city, content=LIGHTS[2], citizen_phone="13900002002")
    b = new_ticket(city, content=LIGHTS[3], citizen_phone="13900002003")
    assert other_street.street_id != a.street_id
    settings.HOTLINE_CLUSTER_SCOPE = "street"
    assert clusters_similar_for([b]) == []  # only a is in b's street and window
    settings.HOTLINE_CLUSTER_SCOPE = "district"
    [cluster] = clusters_similar_for([b])
    assert set(cluster.tickets.all()) == {other_street, a, b}
    assert old not in cluster.tickets.all()


def test_hard_negatives_stay_apart(city, clock, settings, others):
    settings.HOTLINE_MASS_COUNT = 3
    cold = ["暖气不热，室温只有十五度", "家里暖气片冰凉，屋里才十四度", "暖器不热，屋里冷得跟冰窖似的"]
    leak = ["暖气漏水了，水流到楼下", "暖气片接口呲水，地板全泡了", "暖气管子漏水，滴了一地"]
    made = [new_ticket(city, content=t, citizen_phone=f"1390000300{i}") for i, t in enumerate(cold + leak)]
    for ticket in made:
        clusters_detect_for(ticket)
    similar = Cluster.objects.filter(kind=Cluster.Kind.SIMILAR)
    groups = [set(c.tickets.values_list("content", flat=True)) for c in similar]
    assert all(g <= set(cold) or g <= set(leak) for g in groups), groups


def test_detection_is_idempotent_and_the_sweep_adds_nothing_twice(city, clock, settings, others):
    settings.HOTLINE_MASS_COUNT = 3
    made = [new_ticket(city, content=t, citizen_phone=f"1390000400{i}") for i, t in enumerate(LIGHTS)]
    for ticket in made:
        clusters_detect_for(ticket)
    before = list(Cluster.objects.filter(kind=Cluster.Kind.SIMILAR).values_list("pk", "size"))
    for ticket in made:
        clusters_detect_for(ticket)
    clusters_sweep()
    clusters_sweep()
    after = list(Cluster.objects.filter(kind=Cluster.Kind.SIMILAR).values_list("pk", "size"))
    assert before == after and len(before) == 1 and before[0][1] == 5
    [cluster] = Cluster.objects.filter(kind=Cluster.Kind.SIMILAR)
    assert cluster.members.count() == 5


def test_the_sweep_finds_similar_demands_the_intake_missed(city, clock, settings, others):
    settings.HOTLINE_MASS_COUNT = 3
    made = [new_ticket(city, content=t, citizen_phone=f"1390000500{i}") for i, t in enumerate(LIGHTS[:4])]
    Cluster.objects.all().delete()
    clock.shift(timedelta(minutes=30))
    clusters_sweep()
    [cluster] = Cluster.objects.filter(kind=Cluster.Kind.SIMILAR)
    assert set(cluster.tickets.all()) == set(made)


def test_statements_per_new_ticket_do_not_grow_with_the_window(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 50  # no cluster opens: only the looking is counted
    unrelated = [
        f"第{i}号反映的问题：{word}" for i, word in enumerate("噪音 垃圾 停车 油烟 井盖 树木 公交 医保".split())
    ]

    def cost(ticket):
        with CaptureQueriesContext(connection) as ctx:
            clusters_similar_for([ticket])
        return len(ctx.captured_queries)

    for i, text in enumerate(unrelated[:2]):
        new_ticket(city, content=text, citizen_phone=f"139000060{i:02d}")
    small = cost(new_ticket(city, content=LIGHTS[0], citizen_phone="13900006000"))
    for i, text in enumerate(unrelated * 3):
        new_ticket(city, content=text, citizen_phone=f"139000061{i:02d}")
    large = cost(new_ticket(city, content=LIGHTS[1], citizen_phone="13900006999"))
    assert small == large == 3


def test_an_unknown_scope_is_a_configuration_error(city, clock, settings):
    settings.HOTLINE_CLUSTER_SCOPE = "planet"
    ticket = new_ticket(city)
    with pytest.raises(ImproperlyConfigured):
        clusters_similar_for([ticket])
