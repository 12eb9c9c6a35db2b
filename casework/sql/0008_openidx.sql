-- The open complaints, as the wall's open-complaints layer (dashboard/wall_casework.py) and the
-- casework strip's "awaiting acceptance" ask for them: a few thousand open among all the years'
-- complaints. The state list is casework.complaints.OPEN (tests/casework/test_schema.py checks
-- the two agree); a query uses this index only if it names the same states as literals.
CREATE INDEX complaints_open ON complaints (state, respondent_uscc)
  WHERE state IN ('accepted', 'agreed', 'failed', 'mediating', 'received');
