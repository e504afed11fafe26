import json
import re
from dataclasses import replace

import pytest
import torch
from torch import nn

from mnistlib.errors import Refusal
from mnistlib.models import count_params, make_net
from mnistlib.recipes import BUILDS_ON, RECIPES, Recipe, get_recipe


@torch.no_grad()
def output_size(model):
    return model.eval()(torch.zeros(1, 1, 28, 28)).shape


@pytest.mark.parametrize("name, params", [("iteration1", 7344), ("iteration2", 8624), ("iteration3", 7384)])
def test_parameter_counts_match_the_write_up(name, params):
    recipe = get_recipe(name)
    assert count_params(recipe.build()) == params == recipe.reported["params"]


@pytest.mark.parametrize("name, params, budget", [("iteration4", 7568, 8000), ("iteration5", 3692, 4000),
                                                  ("iteration6", 2948, 3000), ("iteration7", 3822, 4000),
                                                  ("iteration8", 3822, 4000)])
def test_later_iterations_stay_under_their_budgets(name, params, budget):
    assert count_params(get_recipe(name).build()) == params < budget


def test_iteration6_is_iteration5_minus_two_convs():
    five, six = get_recipe("iteration5"), get_recipe("iteration6")
    convs = lambda r: [m for m in r.build() if isinstance(m, nn.Conv2d)]
    assert len(convs(five)) - len(convs(six)) == 2
    assert all(c.padding == (1, 1) for c in convs(five)[:-1])  # padded 3x3; the 1x1 head has none


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_iteration_maps_a_digit_to_ten_logits_under_10k_params(name):
    model = get_recipe(name).build()
    assert output_size(model) == (1, 10)
    assert count_params(model) < 10_000
    assert get_recipe(name).epochs <= 15


def test_layers_are_conv_relu_bn_without_bias_or_padding():
    model = get_recipe("iteration1").build()
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(c.bias is None and c.padding == (0, 0) for c in convs)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:3] == ["Conv2d", "ReLU", "BatchNorm2d"]
    assert kinds[-3:] == ["AdaptiveAvgPool2d", "Conv2d", "Flatten"]  # no ReLU/BN after the classifier


def test_iterations_differ_only_where_their_entries_say():
    one, two, three = (get_recipe(f"iteration{i}") for i in (1, 2, 3))
    changed = lambda a, b: {f for f in a.__dataclass_fields__ if getattr(a, f) != getattr(b, f)}
    assert changed(one, two) == {"name", "summary", "head", "dropout", "rotate", "translate", "reported"}
    assert changed(two, three) == {"name", "summary", "cfg", "lr", "milestones", "reported"}
    assert sum(isinstance(m, nn.Dropout) for m in two.build()) == 2


def test_unknown_iteration_names_the_known_ones():
    with pytest.raises(ValueError, match="iteration1, iteration2, iteration3"):
        get_recipe("iteration9")


def test_bad_layer_lists_are_rejected():
    with pytest.raises(ValueError, match="head"):
        make_net((16,), head="dense")
    with pytest.raises(ValueError, match="shrinks"):
        make_net((16, "M", "M", "M", 16, 16))


def test_padded_and_1x1_convs():
    model = make_net(((8, 3, 1), "M", (4, 1, 0), 8), head="gap")
    assert output_size(model) == (1, 10)
    assert count_params(model) == 8 * 9 + 16 + 8 * 4 + 8 + 4 * 8 * 9 + 16 + 8 * 10


def test_each_iteration_builds_on_the_one_its_entry_replaces():
    assert BUILDS_ON == {"iteration2": "iteration1", "iteration3": "iteration2", "iteration4": "iteration3",
                         "iteration5": "iteration4", "iteration6": "iteration5", "iteration7": "iteration5",
                         "iteration8": "iteration7"}
    assert "builds_on" not in get_recipe("iteration5").to_dict()  # the lineage is not part of a record


BAD = [("name", ""), ("summary", None), ("cfg", (4, "X")), ("head", "dense"), ("dropout", True), ("lr", float("nan")),
       ("momentum", 1.0), ("weight_decay", -0.1), ("schedule", "cosine"), ("milestones", (13, 6)), ("gamma", 0.0),
       ("gamma", 1.5), ("label_smoothing", 1.0), ("rotate", 181.0), ("rotate", float("inf")), ("translate", 1.0),
       ("scale", -0.1), ("batch_size", 0), ("epochs", 15.0), ("teacher", ("",)), ("reported", [])]


@pytest.mark.parametrize("field, value", BAD)
def test_every_field_rule_refuses_a_value_out_of_it(field, value):
    with pytest.raises(Refusal, match=f"field {field}.*{re.escape(repr(value))}"):
        replace(get_recipe("iteration3"), **{field: value})


def test_every_field_has_a_rule():  # temperature and soft_weight: with a teacher, below
    assert {f for f, _ in BAD} | {"temperature", "soft_weight"} == set(Recipe.__dataclass_fields__)


def test_teacher_only_settings_are_checked_with_a_teacher_too():
    taught = get_recipe("iteration8")
    for field, value in [("temperature", 0.0), ("soft_weight", 1.5)]:
        with pytest.raises(Refusal, match=f"field {field}.*{value}"):
            replace(taught, **{field: value})


def test_a_recipe_read_back_from_json_equals_the_one_written():
    for recipe in RECIPES.values():
        back = Recipe(**json.loads(json.dumps(recipe.to_dict())), reported=recipe.reported)
        assert back == recipe and isinstance(back.cfg, tuple)
    loose = replace(get_recipe("iteration3"), lr=1, milestones=[5], teacher="iteration4")
    assert (loose.lr, loose.milestones, loose.teacher) == (1.0, (5,), ("iteration4",)) and type(loose.lr) is float


def test_the_printed_recipe_shows_only_the_settings_in_force():
    lines = lambda r: [line.split()[0] for line in str(r).splitlines()]
    one, three, four = (get_recipe(f"iteration{i}") for i in (1, 3, 4))
    assert not {"schedule", "milestones", "gamma", "teacher", "dropout"} & set(lines(one))
    assert {"schedule", "milestones", "gamma", "dropout"} <= set(lines(three))
    assert "milestones" not in lines(four) and "not in force" in str(four)  # OneCycleLR cycles the momentum
    assert {"teacher", "temperature", "soft_weight"} <= set(lines(replace(four, teacher=("iteration1",))))


def test_layer_lists_are_compared_layer_by_layer():
    from mnistlib.models import layer_diff
    from mnistlib.recipes import get_recipe
    rows = layer_diff(get_recipe("iteration5").cfg, get_recipe("iteration6").cfg)[1:]  # iteration 6: two convs fewer
    assert [row.split()[-1] for row in rows if row.endswith("removed")] == ["removed"] * 2
    assert len(rows) == len(get_recipe("iteration5").cfg) and sum(r.endswith(("added", "changed")) for r in rows) == 0
    rows = layer_diff((8, 16, "M", 16), (8, 12, "M", 16, 16))[1:]
    assert [r.split()[-1] if r.endswith(("added", "changed", "removed")) else "kept" for r in rows] == \
        ["kept", "changed", "kept", "kept", "added"]
