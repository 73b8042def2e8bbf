-- Databases of a production-style stack: Temporal's own two, and Cashloop's stores.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE DATABASE cashloop;
