-- The login's history reads each (document, version) a user accepted: with the version in
-- the index the read is covering and its GROUP BY follows the index order, so no temporary
-- b-tree is built for every login. It replaces tos_by_subject, whose columns it starts with.
CREATE INDEX tos_history ON tos_acceptances (issuer, subject, document, version);
DROP INDEX tos_by_subject;
