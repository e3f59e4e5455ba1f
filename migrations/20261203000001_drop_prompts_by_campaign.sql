-- Every login inserted into prompts_by_campaign (campaign, shown_at), and no statement needs
-- it: the admin listing's optional filters (`?2 IS NULL OR campaign = ?2`) cannot use an
-- index, and the per-campaign counts scan prompts_history instead, which covers campaign
-- and status as well (same plan, same time on 69,000 prompts). One b-tree less per login:
-- about 3 of the 89 WAL frames of a batch of 30 logins (docs/benchmark.md, session 8).
DROP INDEX prompts_by_campaign;
