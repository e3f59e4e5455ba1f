-- A prompt's outcome is written once: a prompt that is no longer pending keeps its status.
-- The answer's write transaction relies on it (its first statement ends the prompt; when a
-- concurrent request ended it first, this aborts the whole transaction in the same round
-- trip instead of needing a read first).
CREATE TRIGGER prompts_finished_once
BEFORE UPDATE OF status ON prompts
WHEN OLD.status <> 'pending'
BEGIN
    SELECT RAISE(ABORT, 'interlude: the prompt is already finished');
END;
