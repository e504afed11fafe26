"""Learning from a teacher: the loss against a hand-written reference, a weight of 0 that trains
exactly as without a teacher, and a teacher that never sees the student's held-out split."""
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mnistlib import distil, recipes, train
from mnistlib.lab import records, tables
from mnistlib.data import MNISTTensors
from mnistlib.errors import Refusal
from mnistlib.recipes import get_recipe, teacher_recipes
from tests.conftest import members, record

STUDENT = replace(get_recipe("iteration6"), teacher=("iteration4",))


def tiny(fast=True):
    """120 random 'images' (fast: every recipe trains one epoch on them), 30 held out."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(150, 1, 28, 28, generator=g), torch.randint(0, 10, (150,), generator=g)
    return MNISTTensors(x[:120], y[:120], x[120:], y[120:], fast=fast)


def test_the_loss_is_the_papers_formula_written_out():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g)
    p = F.softmax(torch.randn(8, 10, generator=g) / 3, dim=1)
    T, w = 3.0, 0.6
    q = torch.exp(logits / T) / torch.exp(logits / T).sum(1, keepdim=True)
    ce = -torch.log(torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True))[range(8), y].mean()
    kl = (p * (p.log() - q.log())).sum() / 8
    assert torch.allclose(distil.distillation_loss(logits, y, p, T, w), (1 - w) * ce + w * T * T * kl)
    assert torch.equal(distil.distillation_loss(logits, y, p, T, 0.0), F.cross_entropy(logits, y))


def test_a_soft_weight_of_0_trains_exactly_as_without_a_teacher(tmp_path):
    data = tiny()
    zero = replace(STUDENT, soft_weight=0.0)
    teacher = distil.get_teacher(zero, data, seed=0, cache_dir=tmp_path, progress=False, log=None)
    alone = train.fit(get_recipe("iteration6"), data, seed=0, progress=False, log=None)
    taught = train.fit(zero, data, seed=0, progress=False, log=None, teacher=teacher)
    strip = lambda run: [{k: v for k, v in h.items() if k != "seconds"} for h in run.history]
    assert strip(taught) == strip(alone)
    assert all(torch.equal(a, b) for a, b in zip(alone.model.state_dict().values(), taught.model.state_dict().values()))
    weighted = train.fit(STUDENT, data, seed=0, progress=False, log=None, teacher=teacher)
    assert strip(weighted) != strip(alone)  # so the test above could fail: the teacher does reach the loss


def test_the_teacher_learns_from_the_students_training_images_only(tmp_path, monkeypatch):
    built = []

    class Spy(train.Batches):
        def __init__(self, x, *args, **kwargs):
            built.append(x)
            super().__init__(x, *args, **kwargs)

    monkeypatch.setattr(train, "Batches", Spy)
    val = tiny().validation_split(20)
    ensemble = replace(STUDENT, teacher=("iteration4", "iteration6"))
    teacher = distil.get_teacher(ensemble, val, seed=5, cache_dir=tmp_path, progress=False, log=None)
    assert len(built) == 2 and all(x is val.train_x for x in built)  # one training per member, on those images
    kept = teacher.provenance()
    assert [(m["iteration"], m["seed"], m["evaluated_on"], m["train_images"]) for m in kept] == [
        ("iteration4", 5, "validation", 100), ("iteration6", 6, "validation", 100)]
    asked = []  # every batch the teacher is asked about while the student trains
    for m in teacher.members:
        m.register_forward_pre_hook(lambda module, inputs: asked.append(inputs[0].shape[0]))
    run = train.fit(ensemble, val, seed=5, progress=False, log=None, teacher=teacher)
    assert run.record()["teacher"] == kept
    assert len(built) == 3 and built[2] is val.train_x  # the student's batches are the same 100 images
    assert sum(asked) == 2 * len(val.train_x)  # each member saw each training image once, no held-out one


def test_a_teacher_kept_for_another_split_is_never_used(tmp_path):
    data = tiny()
    test_teacher = distil.get_teacher(STUDENT, data, seed=0, cache_dir=tmp_path, progress=False, log=None)
    val = data.validation_split(20)
    with pytest.raises(ValueError, match="would leak them"):
        train.fit(STUDENT, val, seed=0, progress=False, log=None, teacher=test_teacher)  # it learnt from val's held-out
    val_teacher = distil.get_teacher(STUDENT, val, seed=0, cache_dir=tmp_path, progress=False, log=None)
    assert val_teacher.records[0]["evaluated_on"] == "validation" and len(list(tmp_path.glob("*.pt"))) == 2


def test_a_kept_teacher_is_loaded_not_trained_again_and_answers_the_same(tmp_path, monkeypatch):
    data = tiny()
    first = distil.get_teacher(STUDENT, data, seed=3, cache_dir=tmp_path, progress=False, log=None)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    again = distil.get_teacher(STUDENT, data, seed=3, cache_dir=tmp_path, progress=False, log=None)
    assert torch.equal(first.soft_targets(data.eval_x, 4.0), again.soft_targets(data.eval_x, 4.0))
    assert again.records == [json.loads(json.dumps(first.records[0]))]


def test_the_teacher_answers_in_eval_mode_while_the_student_trains(tmp_path):
    data = tiny()
    teacher = distil.get_teacher(STUDENT, data, seed=0, cache_dir=tmp_path, progress=False, log=None)
    modes = []
    teacher.members[0].register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    train.fit(STUDENT, data, seed=0, progress=False, log=None, teacher=teacher)
    assert modes and not any(modes)


def test_a_student_needs_its_teacher_and_a_plain_recipe_refuses_one(tmp_path):
    data = tiny()
    with pytest.raises(ValueError, match="learns from iteration4: pass teacher="):
        train.fit(STUDENT, data, progress=False, log=None)
    teacher = distil.get_teacher(STUDENT, data, cache_dir=tmp_path, progress=False, log=None)
    with pytest.raises(ValueError, match="has no teacher in its recipe"):
        train.fit(get_recipe("iteration6"), data, progress=False, log=None, teacher=teacher)


def test_distillation_fields_leave_every_other_recipe_and_record_as_it_was():
    plain = get_recipe("iteration6")
    assert not set(distil_fields := ("teacher", "temperature", "soft_weight")) & set(plain.to_dict())
    with pytest.raises(ValueError, match="temperature is in force only with a teacher"):
        replace(plain, temperature=2.0)  # a knob that would change nothing is refused, not recorded as the recipe
    assert set(distil_fields) <= set(STUDENT.to_dict()) and "teacher" in str(STUDENT) and "teacher" not in str(plain)
    assert records.why_not_a_result(record(0, [99.0] * 15, "iteration6")) is None
    assert tables.variant_label(record(0, [99.0] * 15, "iteration6", {"teacher": ("iteration4",)})) == (
        "iteration6 + soft_weight=0.7, teacher=('iteration4',), temperature=4.0")
    assert replace(plain, teacher="iteration4").teacher == ("iteration4",)  # as --set teacher=iteration4 gives it


def test_a_bad_teacher_is_refused_in_one_line(monkeypatch):
    with pytest.raises(ValueError, match="must be a tuple of registered iteration names"):
        replace(STUDENT, teacher=("",))
    with pytest.raises(ValueError, match="unknown iteration 'iteration99'"):
        teacher_recipes(replace(STUDENT, teacher=("iteration99",)))
    monkeypatch.setitem(recipes.RECIPES, "student", replace(STUDENT, name="student"))
    with pytest.raises(ValueError, match="student itself learns from a teacher; a teacher learns from scratch"):
        teacher_recipes(replace(STUDENT, teacher=("student",)))


def test_a_teacher_of_other_training_images_is_refused(tmp_path):
    """Same split, other training images (a validation split of another size): not the student's teacher."""
    data = tiny()
    teacher = distil.get_teacher(STUDENT, data.validation_split(20), seed=0, cache_dir=tmp_path, progress=False,
                                 log=None)
    with pytest.raises(Refusal, match="100 training images, this student from 90"):
        train.fit(STUDENT, data.validation_split(30), seed=0, progress=False, log=None, teacher=teacher)


def test_a_teacher_of_another_seed_is_refused(tmp_path):
    data = tiny()
    teacher = distil.get_teacher(STUDENT, data, seed=1, cache_dir=tmp_path, progress=False, log=None)
    with pytest.raises(ValueError, match="NOT ITS TEACHER"):
        train.fit(STUDENT, data, seed=0, progress=False, log=None, teacher=teacher)


def test_a_broken_kept_teacher_is_named_in_one_line(tmp_path):
    data = tiny()
    distil.get_teacher(STUDENT, data, seed=0, cache_dir=tmp_path, progress=False, log=None)
    kept = next(tmp_path.glob("*.pt"))
    whole = kept.read_bytes()
    for broken in (b"not a checkpoint", b"", whole[:3], whole[:len(whole) // 2]):  # garbage, empty, truncated
        kept.write_bytes(broken)
        with pytest.raises(Refusal, match=f"{kept.name}: cannot load this kept teacher .*; delete it"):
            distil.get_teacher(STUDENT, data, seed=0, cache_dir=tmp_path, progress=False, log=None)


def test_a_student_is_a_result_only_with_its_own_whole_teacher_from_its_split():
    student = lambda **extra: record(0, [99.0] * 15, "iteration8", params=3822, **extra)
    assert records.why_not_a_result(student(teacher=members(0, "test", n=2))) is None
    bad = {"NOT ITS TEACHER": [members(1, "test", n=2), members(0, "test", n=1), []],
           "TEACHER ON ANOTHER SPLIT": [members(0, "validation", n=2)],
           "TEACHER NOT WHOLE": [members(0, "test", n=2, epochs=3)],
           "A VARIANT TEACHER": [members(0, "test", n=2, recipe={**get_recipe("iteration4").to_dict(), "lr": 0.2})]}
    for reason, teachers in bad.items():
        for teacher in teachers:
            assert records.why_not_a_result(student(teacher=teacher)).startswith(reason)
    variant = student(teacher=members(0, "test", n=2, recipe={**get_recipe("iteration4").to_dict(), "lr": 0.2}))
    assert records.why_not_a_result(variant, registered=False) is None  # a search may try another teacher
    assert records.why_not_a_result(student()).startswith("NOT ITS TEACHER")  # a record that names none
    leaky = record(0, [99.0] * 15, "iteration8", evaluated_on="validation", teacher=members(0, "test", n=2))
    assert records.why_not_a_result(leaky, "validation", registered=False).startswith("TEACHER ON ANOTHER SPLIT")
    plain = record(0, [99.0] * 15, "iteration7", params=3822, teacher=members(0, "test"))
    assert records.why_not_a_result(plain).startswith("NOT ITS TEACHER")  # a teacher its recipe does not ask for


def test_the_taught_table_sets_each_taught_iteration_beside_its_net_alone(tmp_path):
    env = {"environment": {"device_name": "AMD EPYC"}}
    for seed, alone, taught in ((0, 99.10, 99.30), (1, 99.20, 99.30), (2, 99.30, 99.45), (5, 98.00, None),
                                (10, None, 99.35)):
        if alone is not None:  # seed 5 alone has no taught partner: left out of the comparison
            (tmp_path / f"alone-{seed}.json").write_text(json.dumps(record(seed, [alone] * 15, "iteration7", **env)))
        if taught is not None:
            rec = record(seed, [taught] * 15, "iteration8", params=3822, teacher=members(seed, "test", n=2, acc=99.4), **env)
            (tmp_path / f"taught-{seed}.json").write_text(json.dumps(rec))
    rows = tables.taught_table(tmp_path).splitlines()[2:]
    assert rows[0] == ("| iteration8 (3,822) | iteration4 x2 (99.40) | 0-2 | **99.35 ± 0.09** | 99.30 – 99.45 | "
                       "0.2 + 11.0 (AMD EPYC) | iteration7 99.20 ± 0.10 (AMD EPYC) | +0.15 |")
    assert rows[1].startswith("| iteration8, held-out seeds (3,822) | iteration4 x2 (99.40) | 10 | **99.35 ± 0.00**")
    assert rows[1].endswith("| iteration7: not all these seeds | – |") and len(rows) == 2
    assert "iteration8" not in tables.results_table(runs_dir=tmp_path)  # kept apart from the from-scratch nets
    other = record(1, [99.20] * 15, "iteration7", environment={"device_name": "Intel Xeon"})
    (tmp_path / "alone-1.json").write_text(json.dumps(other))  # seed 1 alone, made on another machine
    assert tables.taught_table(tmp_path).splitlines()[2].endswith(
        "| iteration7 99.20 ± 0.10 (AMD EPYC, Intel Xeon) | +0.15, across machines |")  # not a paired gain
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="study iteration8"):
        tables.taught_table(tmp_path / "none")


def test_every_taught_iteration_has_its_network_trained_alone_in_the_registry():
    assert tables.TAUGHT and all(tables.alone_twin(name) in tables.FROM_SCRATCH for name in tables.TAUGHT)
    assert tables.alone_twin("iteration8") == "iteration7"


def test_the_teacher_table_pairs_each_student_with_its_recipe_alone_seed_by_seed(tmp_path):
    folder = tmp_path / "validation"
    folder.mkdir()
    finals = {("alone", 0): 99.00, ("alone", 1): 99.10, ("alone", 2): 99.20,
              ("taught", 0): 99.30, ("taught", 1): 99.25, ("taught", 2): 99.35, ("taught", 3): 99.9}
    for (kind, seed), acc in finals.items():
        extra = {"teacher": members(seed)} if kind == "taught" else {}
        changes = {"teacher": ("iteration4",)} if kind == "taught" else None
        rec = record(seed, [98.0] * 14 + [acc], "iteration6", changes, evaluated_on="validation", params=2948, **extra)
        (folder / f"{kind}-{seed}.json").write_text(json.dumps(rec))
    table = tables.teacher_table(tmp_path)
    row = table.splitlines()[2]
    assert "| iteration6 (2,948) | iteration4, T=4, w=0.7 (99.45) | 0-2 |" in row  # seed 3 has no partner: left out
    assert "99.10 ± 0.10" in row and "**99.30** ± 0.05" in row and "+0.30, +0.15, +0.15" in row and "+0.20" in row
    assert row.endswith("| yes (std 0.10) |") and len(table.splitlines()) == 3
