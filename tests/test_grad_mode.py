"""Grad mode and scope: re-entrant (one object nested in itself) and per thread, like torch's."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lstm import Tensor, detect_anomaly, is_grad_enabled, no_grad, scope


def current_scope():
    return Tensor(0.0).scope      # every new tensor carries the thread's current scope


def state():
    return is_grad_enabled(), current_scope()


def leaf():
    return Tensor(np.ones(2), requires_grad=True)


def test_one_no_grad_object_nested_in_itself_and_reused_restores_recording():
    g = no_grad()
    with g:
        with g:
            assert not is_grad_enabled()
        assert not is_grad_enabled()           # the inner exit restores the outer's "off"
        assert not (leaf() * 2.0).requires_grad
    assert is_grad_enabled() and (leaf() * 2.0).requires_grad
    with g:                                    # used again, one after the other
        assert not is_grad_enabled()
    with g:
        pass
    assert is_grad_enabled()


def test_one_scope_object_nested_in_itself_and_reused_restores_the_scope():
    t1, layer = scope("t=1"), scope("layer2")
    with t1:
        with layer:
            with t1:
                assert current_scope() == "t=1/layer2/t=1"   # composition joins with "/"
            assert current_scope() == "t=1/layer2"
        with t1:
            assert current_scope() == "t=1/t=1"
        assert current_scope() == "t=1"
    assert current_scope() is None
    with t1:                                   # used again, one after the other
        assert current_scope() == "t=1"
    assert current_scope() is None


def test_no_grad_and_scope_restore_after_an_exception_inside_a_nested_reuse():
    g, s = no_grad(), scope("t=1")
    try:
        with g, s, g, s:                       # each object entered twice, nested
            raise KeyError
    except KeyError:
        pass
    assert state() == (True, None)


@pytest.mark.parametrize("make", [no_grad, lambda: scope("t=1"), detect_anomaly],
                         ids=["no_grad", "scope", "detect_anomaly"])
def test_an_exit_without_an_enter_says_so_and_changes_nothing(make):
    manager = make()
    message = (f"{type(manager).__name__} was exited without being entered "
               r"\(in this thread\); use it in a `with` statement")
    with pytest.raises(RuntimeError, match=message):                 # never entered
        manager.__exit__(None, None, None)
    with manager:
        with pytest.raises(RuntimeError, match=message):             # entered in another thread
            run_in_thread(lambda: manager.__exit__(None, None, None))
    with pytest.raises(RuntimeError, match=message):                 # one exit too many
        manager.__exit__(None, None, None)
    assert state() == (True, None)


# --- property: any well-nested sequence of enters and exits of a few reused objects ----------

@st.composite
def nestings(draw, managers=5, max_steps=30):
    """A well-nested plan: a list of ("enter", i) / ("exit", None) steps over `managers`
    objects (each may be entered again while it is already open), every enter closed."""
    plan, depth = [], 0
    for _ in range(draw(st.integers(0, max_steps))):
        if depth and draw(st.booleans()):
            plan.append(("exit", None))
            depth -= 1
        else:
            plan.append(("enter", draw(st.integers(0, managers - 1))))
            depth += 1
    return plan + [("exit", None)] * depth


@settings(max_examples=200, deadline=None)
@given(nestings())
def test_each_exit_restores_the_state_its_matching_enter_found(plan):
    managers = [no_grad(), no_grad(), scope("t=1"), scope("layer2"), scope("t=1")]
    open_, expected_scope, grad = [], None, True
    for step, i in plan:
        if step == "enter":
            open_.append((managers[i], state()))
            open_[-1][0].__enter__()
            # what the block is meant to give: grad off, or the scope joined with "/"
            if isinstance(managers[i], no_grad):
                grad = False
            else:
                name = managers[i].name
                expected_scope = name if expected_scope is None else f"{expected_scope}/{name}"
            assert state() == (grad, expected_scope)
        else:
            manager, before = open_.pop()
            manager.__exit__(None, None, None)
            assert state() == before
            grad, expected_scope = before
    assert state() == (True, None)


# --- threads ---------------------------------------------------------------------------------

def run_in_thread(fn):
    """Run fn in a new thread; return its result, or raise what it raised."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except Exception as e:         # surface assertion errors in the main thread
            result["error"] = e
    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def a():                                   # sits inside no_grad() and scope() until B is done
        with no_grad(), scope("A"):
            inside.set()
            done.wait(timeout=30)
            seen["a"] = state()

    thread_a = threading.Thread(target=a)
    thread_a.start()
    try:
        assert inside.wait(timeout=30)

        def b():
            w = leaf()
            with scope("B"):
                y = (w * 3.0).tanh().sum()
            y.backward()
            return y.requires_grad, y.op, y.scope, current_scope(), w.grad is not None

        assert run_in_thread(b) == (True, "sum", "B", None, True)
        assert state() == (True, None)         # the main thread is untouched too
    finally:
        done.set()
        thread_a.join(timeout=30)
    assert seen["a"] == (False, "A")           # and B's blocks did not touch A's state


def test_a_new_thread_starts_with_grad_on_and_no_scope():
    with no_grad(), scope("main"):
        assert run_in_thread(state) == (True, None)
        assert state() == (False, "main")


def test_one_no_grad_object_shared_by_two_threads():
    g = no_grad()
    inside, done = threading.Event(), threading.Event()

    def a():
        with g:
            inside.set()
            done.wait(timeout=30)
        return is_grad_enabled()

    thread_result = {}
    thread_a = threading.Thread(target=lambda: thread_result.setdefault("a", a()))
    thread_a.start()
    assert inside.wait(timeout=30)
    with g:                                    # the main thread enters and leaves the same object
        assert not is_grad_enabled()
    assert is_grad_enabled()
    done.set()
    thread_a.join(timeout=30)
    assert thread_result["a"] is True
