fn main() {
    tessera_user_link::program();
}
