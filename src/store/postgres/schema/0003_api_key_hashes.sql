-- API key secrets are kept as salted hashes: they are only ever verified.
ALTER TABLE api_keys ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE api_keys ADD COLUMN salt TEXT;
ALTER TABLE api_keys ADD COLUMN secret_hash TEXT;
UPDATE api_keys SET salt = md5(random()::text), secret_hash = NULL WHERE secret IS NOT NULL;
UPDATE api_keys SET secret_hash = encode(sha256(convert_to(salt || secret, 'UTF8')), 'hex'), secret = NULL
    WHERE secret IS NOT NULL;
