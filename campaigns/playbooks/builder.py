"""The builder page's form: one HTML form holding the whole playbook, read back into a draft dict.

Repeated blocks carry their own ids so that reordering keeps what was typed: `step` lists the step keys in order
and each step's fields are `step-<key>-<field>`; audience rows (`audience`) and exit rules (`exit`) likewise; the
arms of an A/B split are `step-<key>-arm` with fields `step-<key>-arm-<id>-<field>`. The buttons of the builder
post the form with `op` ("add_step:send", "up:s3", "remove_exit:e2" …): `apply` changes the draft and the page is
drawn again with every value kept (htmx swaps the builder; without JavaScript the whole page comes back).
"""

import json
import re

from campaigns.playbooks import spec
from campaigns.playbooks.spec import StepType, TriggerType

ID = re.compile(r"^[a-z][0-9]{1,4}$")


def _ids(post, name: str) -> list[str]:
    seen = []
    for value in post.getlist(name):
        if ID.match(value) and value not in seen:
            seen.append(value)
    return seen


def _criterion(post, prefix: str) -> dict:
    kind = post.get(f"{prefix}-crit_kind", "")
    criterion = {
        "kind": kind,
        "tag": post.get(f"{prefix}-crit_tag", ""),
        "segment": post.get(f"{prefix}-crit_segment", ""),
    }
    if kind == "condition":  # made outside the builder (starter playbooks): kept as it is
        try:
            criterion["condition"] = json.loads(post.get(f"{prefix}-crit_condition") or "{}")
        except ValueError:
            criterion["condition"] = {}
        criterion["name"] = post.get(f"{prefix}-crit_name", "")
    return criterion


def parse(post) -> dict:
    """The draft as the form holds it (values as typed; `spec.validate` judges them)."""
    kind = post.get("trigger-type", "")
    trigger: dict = {"type": kind}
    if kind == TriggerType.NEW_CONTACT:
        trigger["channel_codes"] = post.getlist("trigger-channel_codes")
    elif kind in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED):
        trigger["tag"] = post.get("trigger-tag", "")
    elif kind in (TriggerType.SEGMENT_ENTRY, TriggerType.BROADCAST):
        trigger["segment"] = post.get("trigger-segment", "")
        if kind == TriggerType.SEGMENT_ENTRY:
            trigger["include_existing"] = post.get("trigger-include_existing") == "on"
        else:
            trigger["at"] = post.get("trigger-at", "")
    elif kind == TriggerType.DATE:
        trigger |= {
            "attribute": post.get("trigger-attribute", ""),
            "offset_days": post.get("trigger-offset_days", ""),
            "time": post.get("trigger-time", ""),
        }
    audience = []
    for row in _ids(post, "audience"):
        audience.append({"id": row, **_criterion(post, f"audience-{row}")})
    steps = []
    for key in _ids(post, "step"):
        if not spec.KEY.match(key):
            continue
        p = f"step-{key}"
        step_type = post.get(f"{p}-type", "")
        step: dict = {"key": key, "type": step_type}
        if step_type == StepType.DELAY:
            step |= {name: post.get(f"{p}-{name}", "") for name in ("days", "hours", "minutes")}
        elif step_type == StepType.WAIT_UNTIL:
            step |= {"time": post.get(f"{p}-time", ""), "weekdays": post.getlist(f"{p}-weekdays")}
        elif step_type == StepType.SEND:
            step["content_item"] = post.get(f"{p}-content_item", "")
        elif step_type == StepType.TASK:
            step |= {name: post.get(f"{p}-{name}", "") for name in ("kind", "title", "script", "due_hours")}
        elif step_type == StepType.TAG:
            step |= {"action": post.get(f"{p}-action", ""), "tag": post.get(f"{p}-tag", "")}
        elif step_type == StepType.WAIT_CONDITION:
            step |= {
                "criterion": _criterion(post, p),
                "timeout_hours": post.get(f"{p}-timeout_hours", ""),
                "on_timeout": post.get(f"{p}-on_timeout", "next"),
            }
        elif step_type == StepType.BRANCH:
            step |= {
                "criterion": _criterion(post, p),
                "then": post.get(f"{p}-then", "next"),
                "else": post.get(f"{p}-else", "next"),
            }
        elif step_type == StepType.AB_SPLIT:
            step["arms"] = [
                {
                    "id": arm,
                    "name": post.get(f"{p}-arm-{arm}-name", ""),
                    "weight": post.get(f"{p}-arm-{arm}-weight", ""),
                    "goto": post.get(f"{p}-arm-{arm}-goto", "next"),
                }
                for arm in _ids(post, f"{p}-arm")
            ]
            step["control"] = post.get(f"{p}-control", "")
        if step_type in spec.LINEAR_STEPS:
            step["after"] = post.get(f"{p}-after", "next")
        steps.append(step)
    exits = []
    for row in _ids(post, "exit"):
        p = f"exit-{row}"
        rule = {"id": row, "kind": post.get(f"{p}-kind", "")}
        if rule["kind"] == "converted":
            rule["category"] = post.get(f"{p}-category", "")
        elif rule["kind"] == "criterion":
            rule["criterion"] = _criterion(post, p)
        exits.append(rule)
    return {
        "trigger": trigger,
        "audience": audience,
        "steps": steps,
        "exits": exits,
        "reentry": post.get("reentry", "never"),
        "cooldown_days": post.get("cooldown_days", ""),
    }


def _next_id(rows: list[dict], letter: str) -> str:
    used = {int(str(row.get("id", ""))[1:]) for row in rows if ID.match(str(row.get("id", "")))}
    return f"{letter}{max(used, default=0) + 1}"


def with_ids(draft: dict) -> dict:
    """Give audience rows, exit rules and arms the ids the form needs (a stored draft has none)."""
    for rows, letter in ((draft.get("audience") or [], "a"), (draft.get("exits") or [], "e")):
        for row in rows:
            if not ID.match(str(row.get("id", ""))):
                row["id"] = _next_id(rows, letter)
    for step in draft.get("steps") or []:
        for arm in step.get("arms") or []:
            if not ID.match(str(arm.get("id", ""))):
                arm["id"] = _next_id(step["arms"], "m")
    return draft


def new_step(kind: str, steps: list[dict]) -> dict:
    step: dict = {"key": spec.new_step_key(steps), "type": kind}
    if kind == StepType.DELAY:
        step |= {"days": "1", "hours": "0", "minutes": "0"}
    elif kind == StepType.WAIT_UNTIL:
        step |= {"time": "10:00", "weekdays": []}
    elif kind == StepType.TASK:
        step |= {"kind": "call", "title": "", "script": "", "due_hours": "24"}
    elif kind == StepType.TAG:
        step |= {"action": "add", "tag": ""}
    elif kind == StepType.WAIT_CONDITION:
        step |= {"criterion": {"kind": "has_tag"}, "timeout_hours": "72", "on_timeout": "next"}
    elif kind == StepType.BRANCH:
        step |= {"criterion": {"kind": "has_tag"}, "then": "next", "else": "next"}
    elif kind == StepType.AB_SPLIT:
        step |= {
            "arms": [
                {"id": "m1", "name": "A", "weight": "45", "goto": "next"},
                {"id": "m2", "name": "B", "weight": "45", "goto": "next"},
            ],
            "control": "10",
        }
    return step


def apply(draft: dict, op: str) -> dict:
    """Carry out one builder button on the draft."""
    name, _sep, arg = (op or "").partition(":")
    steps = draft["steps"]
    keys = [step["key"] for step in steps]
    if name == "add_step" and arg in spec.STEP_TYPES and len(steps) < spec.MAX_STEPS:
        steps.append(new_step(arg, steps))
    elif name in ("up", "down", "remove_step") and arg in keys:
        index = keys.index(arg)
        if name == "remove_step":
            steps.pop(index)
        elif name == "up" and index > 0:
            steps[index - 1], steps[index] = steps[index], steps[index - 1]
        elif name == "down" and index < len(steps) - 1:
            steps[index + 1], steps[index] = steps[index], steps[index + 1]
    elif name == "add_arm" and arg in keys:
        step = steps[keys.index(arg)]
        arms = step.setdefault("arms", [])
        if len(arms) < spec.MAX_ARMS:
            arms.append({"id": _next_id(arms, "m"), "name": chr(ord("A") + len(arms)), "weight": "", "goto": "next"})
    elif name == "remove_arm":
        key, _sep, arm_id = arg.partition(":")
        if key in keys:
            step = steps[keys.index(key)]
            step["arms"] = [arm for arm in step.get("arms", []) if arm.get("id") != arm_id]
    elif name == "add_audience" and len(draft["audience"]) < spec.MAX_AUDIENCE:
        draft["audience"].append({"id": _next_id(draft["audience"], "a"), "kind": "has_tag"})
    elif name == "remove_audience":
        draft["audience"] = [row for row in draft["audience"] if row.get("id") != arg]
    elif name == "add_exit" and len(draft["exits"]) < spec.MAX_EXITS:
        draft["exits"].append({"id": _next_id(draft["exits"], "e"), "kind": "converted", "category": ""})
    elif name == "remove_exit":
        draft["exits"] = [row for row in draft["exits"] if row.get("id") != arg]
    return draft


def stored(draft: dict) -> dict:
    """The draft as saved: without the form's row ids."""
    clean = json.loads(json.dumps(draft))
    for row in clean.get("audience", []) + clean.get("exits", []):
        row.pop("id", None)
    for step in clean.get("steps", []):
        for arm in step.get("arms") or []:
            arm.pop("id", None)
    return clean
