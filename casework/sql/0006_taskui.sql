-- Tasks as the pages and the dispatcher ask for them (docs/tasks.md, BENCHMARKS.md "tasks").
-- A supervisor's open requests are `reporter_account = a OR assignee = p OR grid = ANY(g) OR
-- level1 = ANY(g)`: PostgreSQL ORs bitmap scans only when every arm has an index, and the
-- level-1 and reporter-account arms had none (a sequential scan of every task).
CREATE INDEX tasks_level1_open ON tasks (level1, reported_at DESC) WHERE state NOT IN ('closed', 'rejected');
CREATE INDEX tasks_assignee_open ON tasks (assignee, reported_at DESC) WHERE state NOT IN ('closed', 'rejected');
CREATE INDEX tasks_reporter_account ON tasks (reporter_account, reported_at DESC);
-- The dispatcher's passes: assigned and not accepted (escalation), assigned and never queued
-- (casework/task_delivery.py), every few seconds.
CREATE INDEX tasks_assigned ON tasks (updated_at) WHERE state = 'assigned';
