#!/usr/bin/perl
# Feeds mail files to Znuny exactly as `bin/znuny.Console.pl Maint::PostMaster::Read < FILE` does, one
# after the other in one Perl process (no Perl start and module load per mail). Each mail gets a fresh
# object manager, as a new process would; destroying it ends the ticket transaction, which is when
# Znuny fires the ArticleCreate invoker. Run as the Znuny user from the Znuny directory:
#   perl feed.pl FILE...     prints one line per file: FILE <TAB> exit code <TAB> TicketID <TAB> ArticleID
# (exit 0 imported, 75 temporary failure; the IDs of the mail's email article, empty if none).
use strict;
use warnings;
use lib '.';
use lib 'Kernel/cpan-lib';
use lib 'Custom';
use Kernel::System::ObjectManager;

$| = 1;
my @Files = map {"$_"} @ARGV;    # copies: Znuny's objects reset @ARGV when they go
for my $Index ( 0 .. $#Files ) {
    my $File = "$Files[$Index]";
    my $Last = last_article();
    my $Exit;
    {
        open my $In, '<', $File or die "cannot read $File: $!\n";
        local *STDIN = $In;
        local $Kernel::OM = Kernel::System::ObjectManager->new(
            'Kernel::System::Log' => { LogPrefix => 'Znuny-znuny.Console.pl-Maint::PostMaster::Read' },
        );
        $Exit = $Kernel::OM->Get('Kernel::System::Console::InterfaceConsole')
            ->Run( 'Maint::PostMaster::Read', '--quiet' );
        $Kernel::OM->ObjectsDiscard();
    }
    my ( $TicketID, $ArticleID ) = first_email_article_after($Last);
    print join( "\t", $File, $Exit, $TicketID // '', $ArticleID // '' ), "\n";
}

sub db {
    local $Kernel::OM = Kernel::System::ObjectManager->new();
    return $Kernel::OM->Get('Kernel::System::DB');
}

sub last_article {
    my $DB = db();
    $DB->Prepare( SQL => 'SELECT COALESCE(MAX(id), 0) FROM article' );
    my ($Max) = $DB->FetchrowArray();
    while ( $DB->FetchrowArray() ) { }
    return $Max;
}

sub first_email_article_after {
    my ($Last) = @_;
    my $DB = db();
    $DB->Prepare(
        SQL => "SELECT a.ticket_id, a.id FROM article a JOIN communication_channel c ON c.id = a.communication_channel_id"
            . " WHERE a.id > ? AND c.name = 'Email' ORDER BY a.id",
        Bind  => [ \$Last ],
        Limit => 1,
    );
    my @Row = $DB->FetchrowArray();
    return @Row;
}
