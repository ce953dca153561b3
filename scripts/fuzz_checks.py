"""Checks of our own for scripts/fuzz.sh (loaded with SCHEMATHESIS_HOOKS=fuzz_checks).

declared_refusals: a well-formed request (schemathesis's positive data) refused
with a 422 must be refused by one of the domain rules its operation declares in the
document (`x-refusals` on the 422 answer: a reference that does not exist, a closed
deal, a change that changes nothing, blank text, ...). Any other 422 to a
well-formed request means the document promised something the server refuses (a
schema too loose, a rule undeclared) or the server refuses a valid command: both
are failures. A 422 to a request the schema itself calls malformed (negative data)
is fine whatever its code.
"""

import schemathesis


@schemathesis.check
def declared_refusals(ctx, response, case):
    """A 422 to a well-formed request must be one its operation declares."""
    if response.status_code != 422:
        return None
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    answer = case.operation.definition.raw.get("responses", {}).get("422", {})
    declared = answer.get("x-refusals")
    if declared is None:
        raise AssertionError(
            f"{case.operation.label} answers 422 but declares no refusals (x-refusals)"
        )
    try:
        code = response.json().get("code")
    except Exception as err:  # not a problem document at all
        raise AssertionError(f"a 422 that is no problem document: {err}") from err
    if code not in declared:
        raise AssertionError(
            f"{case.operation.label} refused a well-formed request with 422 `{code}`, "
            f"which it does not declare (it declares: {', '.join(declared) or 'none'})"
        )
    return None
