// The shop's tables, once per engine. The old schema is what the shop has run on for
// years; the new one is what the migration produced: the same tables, types mapped
// (DECIMAL → numeric, DATETIME → timestamptz, VARCHAR → text), and what a converter
// typically loses: note columns that became nullable. The ICU collation shop_ci is
// there for the fixed new version, which orders names the way MariaDB's
// utf8mb4_general_ci does (case and accents ignored).

/** MariaDB, in a database created with utf8mb4 / utf8mb4_general_ci (databases.ts). */
export const MARIADB_SCHEMA: readonly string[] = [
  `CREATE TABLE products (
     id INT PRIMARY KEY,
     sku VARCHAR(16) NOT NULL UNIQUE,
     name VARCHAR(100) NOT NULL,
     description VARCHAR(500) NOT NULL DEFAULT '',
     price DECIMAL(10,2) NOT NULL
   ) ENGINE=InnoDB`,
  `CREATE TABLE carts (
     id VARCHAR(40) PRIMARY KEY,
     note VARCHAR(200) NOT NULL DEFAULT '',
     status VARCHAR(8) NOT NULL DEFAULT 'open'
   ) ENGINE=InnoDB`,
  `CREATE TABLE cart_items (
     cart_id VARCHAR(40) NOT NULL,
     product_id INT NOT NULL,
     qty INT NOT NULL,
     PRIMARY KEY (cart_id, product_id),
     FOREIGN KEY (cart_id) REFERENCES carts (id),
     FOREIGN KEY (product_id) REFERENCES products (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE orders (
     id VARCHAR(40) PRIMARY KEY,
     note VARCHAR(200) NOT NULL DEFAULT '',
     created_at DATETIME NOT NULL,
     subtotal DECIMAL(10,2) NOT NULL,
     tax DECIMAL(10,2) NOT NULL,
     total DECIMAL(10,2) NOT NULL,
     FOREIGN KEY (id) REFERENCES carts (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE order_items (
     order_id VARCHAR(40) NOT NULL,
     product_id INT NOT NULL,
     name VARCHAR(100) NOT NULL,
     price DECIMAL(10,2) NOT NULL,
     qty INT NOT NULL,
     PRIMARY KEY (order_id, product_id),
     FOREIGN KEY (order_id) REFERENCES orders (id)
   ) ENGINE=InnoDB`,
];

/** PostgreSQL, in a database created with the server's defaults. */
export const POSTGRES_SCHEMA: readonly string[] = [
  // Case- and accent-blind, like utf8mb4_general_ci: 'apple' = 'Apple', 'Éclair' = 'eclair'.
  `CREATE COLLATION shop_ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false)`,
  `CREATE TABLE products (
     id integer PRIMARY KEY,
     sku text NOT NULL UNIQUE,
     name text NOT NULL,
     description text NOT NULL DEFAULT '',
     price numeric(10,2) NOT NULL
   )`,
  `CREATE TABLE carts (
     id text PRIMARY KEY,
     note text,
     status text NOT NULL DEFAULT 'open'
   )`,
  `CREATE TABLE cart_items (
     cart_id text NOT NULL REFERENCES carts (id),
     product_id integer NOT NULL REFERENCES products (id),
     qty integer NOT NULL,
     PRIMARY KEY (cart_id, product_id)
   )`,
  `CREATE TABLE orders (
     id text PRIMARY KEY REFERENCES carts (id),
     note text,
     created_at timestamptz NOT NULL,
     subtotal numeric(10,2) NOT NULL,
     tax numeric(10,2) NOT NULL,
     total numeric(10,2) NOT NULL
   )`,
  `CREATE TABLE order_items (
     order_id text NOT NULL REFERENCES orders (id),
     product_id integer NOT NULL,
     name text NOT NULL,
     price numeric(10,2) NOT NULL,
     qty integer NOT NULL,
     PRIMARY KEY (order_id, product_id)
   )`,
];
