-- The rules read a user's newest prompts on every login: an index that holds every column
-- they read answers from the index alone, in shown_at order, without a table lookup per
-- prompt (each a random page once the history is large). It replaces prompts_by_subject,
-- which only that read used.
DROP INDEX prompts_by_subject;
CREATE INDEX prompts_history ON prompts (issuer, subject, shown_at, campaign, campaign_version, status, finished_at);
